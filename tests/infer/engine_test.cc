// The Engine against the training executor: fp32 equal to rounding on three models at several
// batch sizes, bf16 within bf16 rounding, planned activation memory below the unplanned sum, and
// bad batches refused in one line.
#include "infer/engine.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "infer_models.h"

namespace scaledl {
namespace {

using infer::Engine;
using infer::EngineOptions;
using infer::Precision;
using testing::model_with_values;
using testing::random_images;
using testing::reference_output;
using testing::relative_error;

Tensor first_rows(const Tensor& x, int64_t n) {
  Shape s = x.shape();
  s[0] = n;
  Tensor t = Tensor::empty(s);
  std::copy_n(x.data<float>(), t.numel(), t.data<float>());
  return t;
}

TEST(InferEngine, Fp32MatchesTheTrainingExecutor) {
  for (const char* model : {"resnet18", "googlenet", "vgg11", "resnet20", "mobilenet_v1"}) {
    SCOPED_TRACE(model);
    const Graph g = model_with_values(model, 3, 32, 10);
    EngineOptions o;
    o.max_batch = 4;
    Engine e(g, o);
    const Tensor x = random_images({4, 3, 32, 32}, 3);
    for (int64_t n : {4, 1, 3}) {
      const Tensor xn = first_rows(x, n);
      EXPECT_LT(relative_error(e.run(xn), reference_output(g, xn)), 1e-4) << "batch " << n;
    }
  }
}

// y = conv(h) + h: the sum fuses into the convolution whose source is also the residual, so
// the residual cannot be summed in place in the destination (the convolution would overwrite what
// it reads). Where oneDNN keeps both in one layout (nhwc on AVX-512) nothing else forced a copy.
TEST(InferEngine, AResidualThatIsAlsoTheSourceIsNotSummedInPlace) {
  Graph g("residual_is_source", Shape{3, 8, 8});
  const int h = g.relu(g.conv(g.input(), 16, 3, 1, 1, "conv1"));
  const int y = g.relu(g.add(g.conv(h, 16, 3, 1, 1, "conv2"), h));
  g.linear(g.global_avgpool(y), 5, "fc");
  Net net(g);
  net.init(3);
  const Graph v = net.graph_with_values();
  EngineOptions o;
  o.max_batch = 4;
  Engine e(v, o);
  const Tensor x = random_images({4, 3, 8, 8}, 7);
  EXPECT_LT(relative_error(e.run(x), reference_output(v, x)), 1e-4);
}

TEST(InferEngine, PlannedMemoryIsBelowTheUnplannedSum) {
  EngineOptions o;
  o.max_batch = 8;
  Engine e(model_with_values("resnet50", 3, 64, 10), o);
  EXPECT_GT(e.peak_activation_bytes(), 0);
  // ResNet-50's activations die within a block or two: far less than one buffer per value.
  EXPECT_LT(e.peak_activation_bytes() * 3, e.unplanned_activation_bytes());
}

TEST(InferEngine, Bf16IsWithinBf16RoundingOfFp32) {
  if (!infer::cpu_precision_problem(Precision::bf16).empty())
    GTEST_SKIP() << infer::cpu_precision_problem(Precision::bf16);
  const Graph g = model_with_values("resnet18", 3, 32, 10);
  const Tensor x = random_images({2, 3, 32, 32}, 4);
  EngineOptions o;
  o.max_batch = 2;
  const Tensor ref = Engine(g, o).run(x).clone();
  o.precision = Precision::bf16;
  // 8 bits of mantissa through 20 layers: a few percent of the output's range.
  EXPECT_LT(relative_error(Engine(g, o).run(x), ref), 0.05);
}

TEST(InferEngine, BadBatchesAreOneLineErrors) {
  EngineOptions o;
  o.max_batch = 2;
  Engine e(model_with_values("lenet5", 1, 28, 10), o);
  EXPECT_THROW(e.run(Tensor::zeros({3, 1, 28, 28})), Error);
  EXPECT_THROW(e.run(Tensor::zeros({2, 3, 28, 28})), Error);
  EXPECT_EQ(e.run(Tensor::zeros({2, 1, 28, 28})).shape(), (Shape{2, 10}));
}

TEST(InferEngine, Int8WithoutThresholdsIsRefused) {
  EngineOptions o;
  o.precision = Precision::int8;
  try {
    Engine e(model_with_values("lenet5", 1, 28, 10), o);
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("--calib-data"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace scaledl
