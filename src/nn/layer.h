// Layer: one node's computation in a Net. A layer states its parameters and buffers (the Net
// owns their memory in flat buffers and binds views), infers its per-sample output shape, and
// runs forward and backward through the ops.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace scaledl {

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
  bool is_norm_or_bias = false;  // excluded from weight decay when asked
  bool zero_for_residual_init = false;  // starts at 0 under zero-init-residual (last BN gamma)
  bool always_f32 = false;  // stays f32 under mixed precision (batch norm's affine parameters)
};

struct BufferSpec {
  std::string name;  // "running_mean", "running_var"
  Shape shape;
  float init = 0.f;
};

// What a forward/backward call needs to know beyond its tensors.
struct RunContext {
  bool training = true;
  uint64_t seed = 0;  // with step and node, seeds dropout masks
  int64_t step = 0;
  int node = 0;
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual std::string_view kind() const = 0;
  // Per-sample output shape ([C,H,W] or [F]) from per-sample input shapes; throws Error.
  virtual Shape infer(const std::vector<Shape>& in) = 0;
  virtual std::vector<ParamSpec> param_specs() const { return {}; }
  virtual std::vector<BufferSpec> buffer_specs() const { return {}; }
  // Multiply-adds x 2 per sample for one forward pass.
  virtual int64_t flops(const std::vector<Shape>& in, const Shape& out) const;
  // Called by the Net after allocation: views in spec order.
  void bind(std::vector<Tensor> params, std::vector<Tensor> grads, std::vector<Tensor> buffers);
  virtual void forward(const RunContext& ctx, const std::vector<Tensor>& in, Tensor& out) = 0;
  // True when input i's gradient is exactly the output's (a residual add): the Net may then hand
  // backward din[i] sharing dout's storage, and backward leaves it as it is.
  virtual bool passes_gradient(int /*input*/) const { return false; }
  // Writes (not accumulates) din[i] for each defined din[i] and the parameter gradients.
  virtual void backward(const RunContext& ctx, const std::vector<Tensor>& in, const Tensor& out,
                        const Tensor& dout, std::vector<Tensor>& din) = 0;

 protected:
  std::vector<Tensor> params_, grads_, buffers_;
};

}  // namespace scaledl
