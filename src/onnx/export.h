// ONNX export: a Graph with values becomes an opset-13..17 ModelProto (IR 8) that passes
// onnx::checker and shape inference, with input "input" [N, C, H, W] (N free) and output
// "logits". fp32 writes the graph as it is (batch norms as BatchNormalization). int8 runs the
// inference passes and writes a QDQ model with the Engine's own quantization: per-channel s8
// weights (DequantizeLinear, axis 0) and QuantizeLinear/DequantizeLinear on every activation
// with the calibrated threshold (u8 where the tensor is never negative, s8 otherwise, zero
// point 0), so ONNX Runtime, OpenVINO or TensorRT run what scaledl's Engine runs.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "infer/engine.h"

namespace scaledl::onnxio {

struct ExportOptions {
  int64_t opset = 17;
  bool int8 = false;
  infer::Thresholds thresholds;  // int8: per tensor, as the Engine takes them
  // Recorded in metadata_props (scaledl.mean, scaledl.std, scaledl.model), read back by import.
  std::vector<float> mean, stddev;
  std::string model_name;
};

// Writes `path` atomically. Throws Error naming a node that ONNX cannot express here.
void export_onnx(const Graph& g, const std::string& path, const ExportOptions& o);

}  // namespace scaledl::onnxio
