// Graph: what a model is, independent of how it runs. Nodes in topological order, each with a
// kind, typed attributes, inputs (earlier nodes), a per-sample output shape, and named
// parameters and buffers (PyTorch state_dict suffixes). Model builders, checkpoints and importers
// make graphs; passes rewrite them; executors (nn::Net for training, infer::Engine) run them.
// A graph may carry values for its parameters and buffers (inference graphs: passes such as
// batch-norm folding rewrite them); a training graph carries none (the Net owns its memory).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/tensor.h"
#include "ops/params.h"

namespace scaledl {

enum class OpKind : uint8_t {
  input,
  conv2d,
  linear,
  batchnorm2d,
  relu,
  maxpool2d,
  avgpool2d,
  global_avgpool,
  flatten,
  add,
  dropout,
  concat,
  channel_pad,
  identity,
  // Inference only (imported models; training refuses them):
  clip,     // min(max(x, lo), hi): ReLU6 is clip(0, 6)
  softmax,  // over the features of a [F] input
  lrn,      // local response normalization across channels (AlexNet's original, GoogLeNet v1)
};
std::string_view op_kind_name(OpKind k);

enum class Init {
  zeros,
  ones,
  kaiming_normal_fan_out,  // N(0, 2/fan_out): torchvision's ResNet/VGG convs
  kaiming_uniform_fan_in,  // U(+-1/sqrt(fan_in)): PyTorch's default Linear/Conv init
  normal_001,              // N(0, 0.01^2): VGG/AlexNet classifier weights
};

struct ParamSpec {
  std::string name;  // suffix: "weight", "bias"
  Shape shape;
  Init init;
  int64_t fan_in = 1, fan_out = 1;
  bool is_norm_or_bias = false;         // excluded from weight decay when asked
  bool zero_for_residual_init = false;  // starts at 0 under zero-init-residual (last BN gamma)
  bool always_f32 = false;  // stays f32 under mixed precision (batch norm's affine parameters)
};

struct BufferSpec {
  std::string name;  // "running_mean", "running_var"
  Shape shape;
  float init = 0.f;
};

// What inference passes fuse into a convolution or linear node: a residual input added to the
// result (oneDNN's sum post-op: inputs[1] of the node) and a ReLU after everything.
struct Fused {
  bool sum = false;
  bool relu = false;
  float relu_cap = 0.f;  // with relu: the result is also clipped at this (ReLU6: 6); 0: no cap
};

struct ConvAttrs {
  int out = 0, kernel = 0;
  Conv2dParams p;
  bool bias = false;
  Init init = Init::kaiming_normal_fan_out;
  Init bias_init = Init::kaiming_uniform_fan_in;
  Fused fused;
};
struct LinearAttrs {
  int out = 0;
  bool bias = true;
  Init init = Init::kaiming_uniform_fan_in;
  Init bias_init = Init::kaiming_uniform_fan_in;
  Fused fused;
};
struct BatchNormAttrs {
  BatchNormParams p;
  bool zero_gamma = false;  // the last BN of a residual branch (gamma starts at 0 when asked)
};
struct PoolAttrs {
  Pool2dParams p;
};
struct DropoutAttrs {
  float p = 0.5f;
};
struct ChannelPadAttrs {
  int extra = 0;
};
struct ClipAttrs {
  float lo = 0.f, hi = 6.f;
};
struct LrnAttrs {  // ONNX's LRN: x / (bias + alpha / size * sum of x^2 over `size` channels)^beta
  int size = 5;
  float alpha = 1e-4f, beta = 0.75f, bias = 1.f;
};
using Attrs = std::variant<std::monostate, ConvAttrs, LinearAttrs, BatchNormAttrs, PoolAttrs,
                           DropoutAttrs, ChannelPadAttrs, ClipAttrs, LrnAttrs>;

struct Node {
  std::string name;
  OpKind kind = OpKind::input;
  Attrs attrs;
  std::vector<int> inputs;
  Shape shape;  // per sample: [C,H,W] or [F]
  std::vector<ParamSpec> params;
  std::vector<BufferSpec> buffers;
  // Parameter and buffer values by suffix ("weight", "running_mean"), f32 on the host; empty
  // unless the graph was given values.
  std::map<std::string, Tensor> values;
  // The |x| range int8 should give this node's output (an imported model's QuantizeLinear
  // scale); 0: none (calibration decides). Passes that fuse nodes keep the last one's.
  float threshold = 0.f;

  template <class A>
  A& as() {
    return std::get<A>(attrs);
  }
  template <class A>
  const A& as() const {
    return std::get<A>(attrs);
  }
  const Tensor& value(const std::string& suffix) const;  // throws when absent
};

class Graph {
 public:
  Graph() = default;
  Graph(std::string name, Shape input_shape);

  // --- building (each returns the new node's id and makes it the output) ---
  int input() const { return 0; }
  // Adds a node: checks the inputs, infers its shape and parameter specs; throws Error naming
  // the node when the inputs do not fit.
  int add(OpKind kind, Attrs attrs, std::vector<int> inputs, std::string name = "");
  // pad < 0: kernel / 2 (same size at stride 1).
  int conv(int x, int out, int kernel, int stride, int pad, const std::string& name, int groups = 1,
           bool bias = false, Init init = Init::kaiming_normal_fan_out,
           Init bias_init = Init::kaiming_uniform_fan_in);
  int bn(int x, const std::string& name, bool zero_gamma = false, float eps = 1e-5f);
  int relu(int x);
  int maxpool(int x, int kernel, int stride, int pad = 0, bool ceil_mode = false);
  int avgpool(int x, int kernel, int stride, int pad = 0, bool ceil_mode = false,
              bool count_include_pad = true);
  int global_avgpool(int x);
  int flatten(int x);
  int linear(int x, int out, const std::string& name, bool bias = true,
             Init init = Init::kaiming_uniform_fan_in,
             Init bias_init = Init::kaiming_uniform_fan_in);
  int add(int a, int b);
  int dropout(int x, float p);
  int concat(const std::vector<int>& xs);
  int channel_pad(int x, int extra);
  int clip(int x, float lo, float hi);
  void set_output(int node) { output_ = node; }

  // --- inspection ---
  const std::string& name() const { return name_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& nodes() { return nodes_; }
  const Node& node(int i) const { return nodes_.at(static_cast<size_t>(i)); }
  Node& node(int i) { return nodes_.at(static_cast<size_t>(i)); }
  int size() const { return static_cast<int>(nodes_.size()); }
  int output() const { return output_; }
  const Shape& input_shape() const { return nodes_.at(0).shape; }
  const Shape& output_shape() const { return nodes_.at(output_).shape; }
  int64_t num_params() const;
  int64_t flops() const;  // one sample's forward pass, multiply-adds x 2
  // How many nodes read node i (the output counts as one more reader).
  std::vector<int> consumers() const;
  // The nodes that read node i, ascending (a node that reads i twice is listed twice).
  std::vector<std::vector<int>> readers() const;
  // "layer1.0.conv1.weight"-style names of every parameter, then every buffer, in node order.
  std::vector<std::string> value_names() const;
  bool has_values() const;

  // Keeps only the nodes the output depends on, renumbered in order (passes call it after
  // rewiring). Node 0 stays the input.
  void prune();
  // Recomputes every node's shape and parameter specs from its attributes and inputs (after a
  // pass changed attributes); throws Error naming a node that no longer fits.
  void reinfer();

 private:
  std::string name_;
  std::vector<Node> nodes_;
  int output_ = 0;
};

// Whether node i's output is never negative: ReLU (fused or not), ReLU6, softmax, and what only
// moves such values (pools, flatten, channel padding, LRN, concatenations of them).
bool never_negative(const Graph& g, int i);

// Multiply-adds x 2 of one sample through node `n` whose inputs have per-sample shapes `in`.
int64_t node_flops(const Node& n, const std::vector<Shape>& in);

}  // namespace scaledl
