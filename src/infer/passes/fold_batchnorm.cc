// Batch-norm folding into the convolution before it.
#include <cmath>
#include <string>

#include "core/error.h"
#include "infer/passes/passes.h"

namespace scaledl::passes {

namespace {
// Folds BN node b (reading conv node c) into c's values.
void fold(Node& conv, const Node& bn) {
  ConvAttrs& a = conv.as<ConvAttrs>();
  const float eps = bn.as<BatchNormAttrs>().p.eps;
  const Tensor& gamma = bn.value("weight");
  const Tensor& beta = bn.value("bias");
  const Tensor& mean = bn.value("running_mean");
  const Tensor& var = bn.value("running_var");
  Tensor w = conv.value("weight").clone();
  const int64_t out = w.dim(0), per = w.numel() / out;
  Tensor b = Tensor::zeros({out});
  if (a.bias) b.copy_from(conv.value("bias"));
  float* wp = w.data<float>();
  float* bp = b.data<float>();
  for (int64_t o = 0; o < out; ++o) {
    const double s = static_cast<double>(gamma.data<float>()[o]) /
                     std::sqrt(static_cast<double>(var.data<float>()[o]) + eps);
    for (int64_t k = 0; k < per; ++k) wp[o * per + k] = static_cast<float>(wp[o * per + k] * s);
    bp[o] = static_cast<float>((bp[o] - mean.data<float>()[o]) * s + beta.data<float>()[o]);
  }
  a.bias = true;
  conv.values["weight"] = w;
  conv.values["bias"] = b;
}
}  // namespace

Graph fold_batchnorm(Graph g) {
  const std::vector<int> readers = g.consumers();
  for (int i = 1; i < g.size(); ++i) {
    const Node& bn = g.node(i);
    if (bn.kind != OpKind::batchnorm2d) continue;
    const int c = bn.inputs.at(0);
    Node& conv = g.node(c);
    if (conv.kind != OpKind::conv2d || readers[c] != 1) continue;
    const Fused f = conv.as<ConvAttrs>().fused;
    if (f.sum || f.relu) continue;
    if (conv.values.empty() || bn.values.empty())
      throw Error("passes", "fold_batchnorm needs a graph with values (" + bn.name + " has none)");
    fold(conv, bn);
    if (bn.threshold > 0.f) conv.threshold = bn.threshold;
    rewire(g, i, c);
  }
  g.prune();
  g.reinfer();  // folded convolutions now have a bias
  return g;
}

}  // namespace scaledl::passes
