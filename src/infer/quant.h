// The int8 arithmetic the Engine uses, for whoever must reproduce it (the ONNX exporter writes
// the same scales as QuantizeLinear/DequantizeLinear): per-tensor activation scales from a
// calibration threshold, s8 weights per output channel, and which tensors are never negative
// (they go u8).
#pragma once
#include <vector>

#include "core/tensor.h"
#include "graph/graph.h"
#include "infer/engine.h"

namespace scaledl::infer {

// Scale of an s8/u8 value from its threshold T: 127/T or 255/T (T <= 0: a tiny T).
float scale_for(float threshold, bool nonneg);
// Whether node i's output is never negative (graph.h's never_negative): it goes u8.
inline bool nonnegative(const Graph& g, int i) {
  return never_negative(g, i);
}
// s8 weight scales per output channel (dim 0): 127 / max |w[o]| (a zero channel gets scale 1).
std::vector<float> weight_scales(const Tensor& w);

}  // namespace scaledl::infer

namespace scaledl::infer {

// The thresholds an imported quantized model carries (Node::threshold, set from its
// QuantizeLinear scales), keyed as the Engine wants them: by node name after the inference
// passes, "input" for the input. Tensors without their own take their input's where the values
// pass through unchanged in range (pools, ReLU, flatten, concatenation: the largest); the
// output needs none (it stays f32). Throws Error naming a tensor that has none and cannot
// inherit one ("calibrate with --calib-data").
Thresholds graph_thresholds(const Graph& g);

}  // namespace scaledl::infer
