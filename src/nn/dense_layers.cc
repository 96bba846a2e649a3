// Conv2d and Linear: the layers with weights.
#include <string>

#include "core/error.h"
#include "nn/layers.h"
#include "ops/ops.h"

namespace scaledl {

namespace {
Tensor none;
}

Conv2d::Conv2d(int out_channels, int kernel, Conv2dParams p, bool bias, Init init)
    : out_(out_channels), kernel_(kernel), p_(p), bias_(bias), init_(init) {}

Shape Conv2d::infer(const std::vector<Shape>& in) {
  if (in.size() != 1 || in[0].size() != 3)
    throw Error("conv2d", "needs one [C,H,W] input, got " + shape_str(in.at(0)));
  in_ = static_cast<int>(in[0][0]);
  if (in_ % p_.groups || out_ % p_.groups)
    throw Error("conv2d", "channels " + std::to_string(in_) + "->" + std::to_string(out_) +
                              " not divisible by groups " + std::to_string(p_.groups));
  int64_t oh = conv_out_size(in[0][1], kernel_, p_.stride_h, p_.pad_h, p_.dil_h);
  int64_t ow = conv_out_size(in[0][2], kernel_, p_.stride_w, p_.pad_w, p_.dil_w);
  if (oh <= 0 || ow <= 0)
    throw Error("conv2d", "input " + shape_str(in[0]) + " is too small for a " +
                              std::to_string(kernel_) + "x" + std::to_string(kernel_) +
                              " kernel; use a larger --input-size");
  return {out_, oh, ow};
}

std::vector<ParamSpec> Conv2d::param_specs() const {
  int64_t rf = int64_t{kernel_} * kernel_;
  int64_t fan_in = in_ / p_.groups * rf;  // PyTorch's fans of a [O, C/g, k, k] weight
  std::vector<ParamSpec> s{{"weight", {out_, in_ / p_.groups, kernel_, kernel_}, init_, fan_in,
                            out_ * rf, false}};
  if (bias_) s.push_back({"bias", {out_}, Init::kaiming_uniform_fan_in, fan_in, out_, true});
  return s;
}

int64_t Conv2d::flops(const std::vector<Shape>&, const Shape& out) const {
  return 2 * shape_numel(out) * (in_ / p_.groups) * kernel_ * kernel_;
}

void Conv2d::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::conv2d_forward(p_, in[0], params_[0], bias_ ? params_[1] : none, out);
}

void Conv2d::backward(const RunContext&, const std::vector<Tensor>& in, const Tensor&,
                      const Tensor& dout, std::vector<Tensor>& din) {
  Tensor db = bias_ ? grads_[1] : Tensor();
  ops::conv2d_backward_weights(p_, in[0], dout, grads_[0], db);
  if (din[0].defined()) ops::conv2d_backward_data(p_, dout, params_[0], din[0]);
}

Linear::Linear(int out_features, bool bias, Init init)
    : out_(out_features), bias_(bias), init_(init) {}

Shape Linear::infer(const std::vector<Shape>& in) {
  if (in.size() != 1 || in[0].size() != 1)
    throw Error("linear", "needs one [F] input (flatten first), got " + shape_str(in.at(0)));
  in_ = static_cast<int>(in[0][0]);
  return {out_};
}

std::vector<ParamSpec> Linear::param_specs() const {
  std::vector<ParamSpec> s{{"weight", {out_, in_}, init_, in_, out_, false}};
  if (bias_) s.push_back({"bias", {out_}, Init::kaiming_uniform_fan_in, in_, out_, true});
  return s;
}

int64_t Linear::flops(const std::vector<Shape>&, const Shape&) const {
  return 2 * int64_t{in_} * out_;
}

void Linear::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::linear_forward(in[0], params_[0], bias_ ? params_[1] : none, out);
}

void Linear::backward(const RunContext&, const std::vector<Tensor>& in, const Tensor&,
                      const Tensor& dout, std::vector<Tensor>& din) {
  Tensor db = bias_ ? grads_[1] : Tensor();
  ops::linear_backward_weights(in[0], dout, grads_[0], db);
  if (din[0].defined()) ops::linear_backward_data(dout, params_[0], din[0]);
}

}  // namespace scaledl
