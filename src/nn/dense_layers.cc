// Conv2d and Linear: the layers with weights.
#include <string>

#include "core/error.h"
#include "nn/layers.h"
#include "ops/ops.h"

namespace scaledl {

namespace {
Tensor none;

// The fused post-ops of an inference graph's node: y += residual, then ReLU.
void post_ops(const Fused& f, const std::vector<Tensor>& in, Tensor& out) {
  if (f.sum) ops::add(out, in.at(1), out);
  if (f.relu) ops::relu_forward(out, out);
}

void no_fused_backward(const Fused& f) {
  if (f.sum || f.relu)
    throw Error("net", "a node with fused post-ops (from inference passes) cannot be trained");
}
}  // namespace

void Conv2d::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::conv2d_forward(p_, in[0], params_[0], bias_ ? params_[1] : none, out);
  post_ops(fused_, in, out);
}

void Conv2d::backward(const RunContext&, const std::vector<Tensor>& in, const Tensor&,
                      const Tensor& dout, std::vector<Tensor>& din) {
  no_fused_backward(fused_);
  Tensor db = bias_ ? grads_[1] : Tensor();
  ops::conv2d_backward_weights(p_, in[0], dout, grads_[0], db);
  if (din[0].defined()) ops::conv2d_backward_data(p_, dout, params_[0], din[0]);
}

void Linear::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::linear_forward(in[0], params_[0], bias_ ? params_[1] : none, out);
  post_ops(fused_, in, out);
}

void Linear::backward(const RunContext&, const std::vector<Tensor>& in, const Tensor&,
                      const Tensor& dout, std::vector<Tensor>& din) {
  no_fused_backward(fused_);
  Tensor db = bias_ ? grads_[1] : Tensor();
  ops::linear_backward_weights(in[0], dout, grads_[0], db);
  if (din[0].defined()) ops::linear_backward_data(dout, params_[0], din[0]);
}

}  // namespace scaledl
