// Internal to the importer (import.cc drives, import_ops.cc maps each op): the ONNX tensors seen
// so far, as graph nodes or constants.
#pragma once
#include <array>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graph/graph.h"
#include "onnx/tensor_proto.h"

namespace scaledl::onnxio::detail {

// An activation: the graph node computing it and its ONNX per-sample shape (which may differ
// from the node's: a GlobalAveragePool's [C,1,1] is node shape [C]).
struct Value {
  int node = -1;
  Shape shape;
  std::array<int64_t, 4> pad{};  // a zero Pad not yet folded: top, left, bottom, right
  bool padded = false;
};

// The quantized form of an activation (a QuantizeLinear's output).
struct Quantized {
  Value value;
  float scale = 1.f;
  int32_t zero_point = 0;
  bool is_unsigned = true;
};

// A constant: float values (ints converted) and dims, or the int64 values of shape inputs.
struct Const {
  Shape dims;
  std::vector<float> f;
  std::vector<int64_t> i;
  int32_t type = 0;
};

class Importer {
 public:
  Importer(const onnx::ModelProto& m, TensorContext cx, int64_t opset);
  Graph run(std::string& input_name, std::string& output_name, int& qdq_pairs);

 private:
  // --- bookkeeping (import.cc) ---
  [[noreturn]] void fail(const std::string& msg) const;  // names the current node
  bool is_const(const std::string& name) const;
  Const constant(const std::string& name, bool ints = false) const;
  const Value& value(const std::string& name) const;
  int input_count() const;      // inputs present (trailing empty names dropped)
  std::string in(int k) const;  // input k's name ("" when absent)
  void set_out(const Value& v, int k = 0);
  int add(OpKind kind, Attrs attrs, std::vector<int> inputs, const std::string& suffix = "");
  // attributes of the current node
  const onnx::AttributeProto* attr(const std::string& name) const;
  int64_t attr_int(const std::string& name, int64_t dflt) const;
  float attr_float(const std::string& name, float dflt) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> dflt) const;
  std::string attr_string(const std::string& name, const std::string& dflt) const;
  void only_attrs(const std::vector<std::string>& known) const;

  // --- ops (import_ops.cc) ---
  void map_node();
  void conv();
  void batchnorm();
  void clip();
  void pool(bool max);
  void gemm(bool matmul);
  void add_or_mul(bool mul);
  void flatten_or_reshape(bool reshape);
  void concat();
  void softmax();
  void lrn();
  void pad();
  void constant_node();
  void quantize();
  void dequantize();
  Value unpadded(const Value& v, const char* what) const;  // refuses a pending Pad
  // Conv/Pool windows from kernel_shape, strides, pads, dilations, auto_pad (+ a pending Pad).
  struct Window {
    int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  };
  Window window(const Value& x, int64_t kh, int64_t kw, bool allow_dilation);

  const onnx::ModelProto& m_;
  TensorContext cx_;
  int64_t opset_;
  Graph g_;
  std::map<std::string, const onnx::TensorProto*> init_;  // initializers and Constant outputs
  std::map<std::string, Const> computed_;                 // dequantized or folded constants
  std::map<std::string, Value> values_;
  std::map<std::string, Quantized> quantized_;
  std::map<std::string, int> readers_;  // how many node inputs (and graph outputs) read a name
  const onnx::NodeProto* node_ = nullptr;
  int qdq_pairs_ = 0;
};

}  // namespace scaledl::onnxio::detail
