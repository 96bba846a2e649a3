// ONNX import: a ModelProto (opset 7-17 of the default domain, IR version up to 10) becomes a
// Graph with values that the inference Engine runs. Checked by onnx::checker (IR <= 8, the
// library's own limit) and the library's shape inference first; then every node is mapped:
//
//   Conv, BatchNormalization, Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, Gemm,
//   MatMul (+ Add of a bias), Add, Mul (by a constant, folded into the producer), Flatten,
//   Reshape (to [N, -1]), Concat, Dropout, Identity, Softmax, LRN, Pad (zero, folded into the
//   next convolution), Constant, and QuantizeLinear/DequantizeLinear.
//
// QDQ models: a DequantizeLinear of an int8/uint8/int32 initializer is that initializer
// dequantized (per tensor or per axis); a QuantizeLinear -> DequantizeLinear pair on an
// activation sets the producing node's int8 threshold (Node::threshold: the |x| its quantization
// covers), and a pair whose range starts at 0 is also a ReLU (ONNX Runtime removes the ReLU
// before such a pair). `scaledl infer --onnx --precision int8` runs with those scales.
//
// Anything else (an op, an attribute value, a layout) is refused with one line naming the node,
// its op type and what to do. Sizes are checked before allocation (dims over 2^31 elements,
// truncated data, external data outside the model's folder).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace scaledl::onnxio {

struct ImportedModel {
  Graph graph;  // with values; int8 thresholds on nodes when the model had QDQ pairs
  std::string input_name, output_name;
  int64_t opset = 0, ir_version = 0;
  std::string producer;
  int qdq_pairs = 0;  // activation QuantizeLinear/DequantizeLinear pairs read
  // Input normalization recorded by `scaledl export` (metadata scaledl.mean, scaledl.std);
  // empty for other producers.
  std::vector<float> mean, stddev;
};

// Reads `path` (external data beside it). Throws Error with a one-line message.
ImportedModel import_onnx_file(const std::string& path);
// From memory (no external data): fuzzing and tests. `name` stands for the file in errors.
ImportedModel import_onnx_bytes(const void* data, size_t size, const std::string& name);

}  // namespace scaledl::onnxio
