// Thresholds from an imported quantized model's nodes (see quant.h).
#include <algorithm>

#include "core/error.h"
#include "infer/passes/passes.h"
#include "infer/quant.h"

namespace scaledl::infer {

Thresholds graph_thresholds(const Graph& graph) {
  const Graph g = passes::optimize_for_inference(graph);
  std::vector<float> t(static_cast<size_t>(g.size()), 0.f);
  for (int i = 0; i < g.size(); ++i) {
    const Node& n = g.node(i);
    float v = n.threshold;
    if (v <= 0.f) {
      switch (n.kind) {
        case OpKind::maxpool2d:
        case OpKind::avgpool2d:
        case OpKind::global_avgpool:
        case OpKind::relu:
        case OpKind::flatten:
        case OpKind::channel_pad:
        case OpKind::concat:
          for (int j : n.inputs) v = std::max(v, t[static_cast<size_t>(j)]);
          break;
        default:
          break;
      }
    }
    // The output stays f32, and so does what only a flatten that is the output reads.
    const bool to_output = i == g.output() || (g.node(g.output()).kind == OpKind::flatten &&
                                               g.node(g.output()).inputs[0] == i);
    if (v <= 0.f && to_output) v = 1.f;
    t[static_cast<size_t>(i)] = v;
  }
  Thresholds out;
  for (const std::string& name : calibration_tensors(g)) {
    int i = 0;
    while (i < g.size() && (i == 0 ? "input" : g.node(i).name) != name) ++i;
    if (i == g.size() || t[static_cast<size_t>(i)] <= 0.f)
      throw Error("infer", "tensor '" + name +
                               "' has no QuantizeLinear scale in the model; calibrate with "
                               "--calib-data instead");
    out[name] = t[static_cast<size_t>(i)];
  }
  return out;
}

}  // namespace scaledl::infer
