// Graphs with values for the inference tests: a model from the registry with its training
// initialization, then batch-norm statistics and affine parameters drawn at random (so folding
// has something to fold), and the training executor's inference-mode output as the reference.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>

#include "core/rng.h"
#include "core/tensor.h"
#include "graph/graph.h"
#include "models/models.h"
#include "nn/net.h"

namespace scaledl::testing {

inline Graph model_with_values(const std::string& name, int channels, int64_t size, int classes,
                               uint64_t seed = 5) {
  Net net(build_graph(name, channels, size, classes));
  net.init(seed);
  Graph g = net.graph_with_values();
  Rng r(seed + 1);
  for (Node& n : g.nodes()) {
    if (n.kind != OpKind::batchnorm2d) continue;
    for (int64_t c = 0; c < n.shape[0]; ++c) {
      n.values["weight"].data<float>()[c] = r.uniform(0.5f, 1.5f);
      n.values["bias"].data<float>()[c] = r.uniform(-0.2f, 0.2f);
      n.values["running_mean"].data<float>()[c] = r.uniform(-0.3f, 0.3f);
      n.values["running_var"].data<float>()[c] = r.uniform(0.5f, 2.f);
    }
  }
  return g;
}

inline Tensor random_images(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s);
  Rng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = r.uniform(-2.f, 2.f);
  return t;
}

// The training executor's output on x in inference mode (f32 nchw host copy).
inline Tensor reference_output(const Graph& g, const Tensor& x) {
  Net net(g);
  net.init(0);
  net.setup(x.dim(0), Layout::nchw);
  RunContext ctx;
  ctx.training = false;
  return net.forward(x, ctx).to(Device::cpu()).clone();
}

// max |a - b| / max |b|.
inline double relative_error(const Tensor& a, const Tensor& b) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b.data<float>()[i])));
  }
  return diff / scale;
}

}  // namespace scaledl::testing
