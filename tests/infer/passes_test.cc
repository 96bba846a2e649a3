// Each inference pass keeps the outputs of three models (residual, inception and plain
// convolutional) to 1e-5 relative, run by the training executor before and after, and does the
// rewrite it promises.
#include "infer/passes/passes.h"

#include <gtest/gtest.h>

#include <functional>

#include "infer_models.h"

namespace scaledl {
namespace {

using testing::model_with_values;
using testing::random_images;
using testing::reference_output;
using testing::relative_error;

struct Case {
  const char* model;
  int64_t size;
};
const Case kModels[] = {{"resnet18", 32}, {"googlenet", 32}, {"vgg11", 32}};

int count(const Graph& g, OpKind k) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.kind == k;
  return n;
}

void expect_keeps_outputs(const std::function<Graph(Graph)>& pass, const char* what) {
  for (const Case& c : kModels) {
    SCOPED_TRACE(std::string(what) + " on " + c.model);
    const Graph g = model_with_values(c.model, 3, c.size, 10);
    const Tensor x = random_images({2, 3, c.size, c.size}, 11);
    const Tensor before = reference_output(g, x);
    const Tensor after = reference_output(pass(g), x);
    EXPECT_LT(relative_error(after, before), 1e-5);
  }
}

TEST(InferPasses, DropDropoutKeepsOutputs) {
  expect_keeps_outputs(passes::drop_dropout, "drop_dropout");
  const Graph g = passes::drop_dropout(model_with_values("vgg11", 3, 32, 10));
  EXPECT_EQ(count(g, OpKind::dropout), 0);
  EXPECT_EQ(count(g, OpKind::linear), 3);
}

TEST(InferPasses, FoldBatchnormKeepsOutputs) {
  expect_keeps_outputs(passes::fold_batchnorm, "fold_batchnorm");
  const Graph g = passes::fold_batchnorm(model_with_values("resnet18", 3, 32, 10));
  EXPECT_EQ(count(g, OpKind::batchnorm2d), 0);
  for (const Node& n : g.nodes()) {
    if (n.kind == OpKind::conv2d) {
      EXPECT_TRUE(n.as<ConvAttrs>().bias) << n.name;
    }
  }
}

TEST(InferPasses, FuseResidualAddKeepsOutputs) {
  auto pass = [](Graph g) { return passes::fuse_residual_add(passes::fold_batchnorm(g)); };
  expect_keeps_outputs(pass, "fold + fuse_residual_add");
  const Graph g = pass(model_with_values("resnet18", 3, 32, 10));
  EXPECT_EQ(count(g, OpKind::add), 0);  // all 8 blocks' adds became sums
  int sums = 0;
  for (const Node& n : g.nodes())
    if (n.kind == OpKind::conv2d) sums += n.as<ConvAttrs>().fused.sum;
  EXPECT_EQ(sums, 8);
}

TEST(InferPasses, FuseReluKeepsOutputs) {
  auto pass = [](Graph g) { return passes::fuse_relu(passes::fold_batchnorm(g)); };
  expect_keeps_outputs(pass, "fold + fuse_relu");
  expect_keeps_outputs(passes::optimize_for_inference, "all passes");
  const Graph g = passes::optimize_for_inference(model_with_values("resnet18", 3, 32, 10));
  EXPECT_EQ(count(g, OpKind::relu), 0);
  // ResNet-18: 20 convolutions + fc, input, max pool, global pool: nothing else is left.
  EXPECT_EQ(g.size(), 1 + 20 + 1 + 1 + 1);
}

TEST(InferPasses, NoFoldWhenTheConvolutionHasOtherReaders) {
  Graph g("fanout", Shape{3, 8, 8});
  int c = g.conv(g.input(), 4, 3, 1, 1, "conv");
  int b = g.bn(c, "bn");
  g.add(b, c);
  Net net(g);
  net.init(1);
  Graph v = net.graph_with_values();
  EXPECT_EQ(count(passes::fold_batchnorm(v), OpKind::batchnorm2d), 1);
}

}  // namespace
}  // namespace scaledl
