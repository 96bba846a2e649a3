// BatchNorm2d and Dropout: layers whose training and inference behaviour differ.
#include <string>

#include "core/error.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "ops/ops.h"

namespace scaledl {

void BatchNorm2d::forward(const RunContext& ctx, const std::vector<Tensor>& in, Tensor& out) {
  if (!ctx.training) {
    ops::batchnorm_forward_inference(p_, in[0], params_[0], params_[1], buffers_[0], buffers_[1],
                                     out);
    if (fused_relu_) ops::relu_forward(out, out);
    return;
  }
  if (!save_mean_.defined()) {
    save_mean_ = Tensor::empty({channels_}, DType::f32, out.device());
    save_var_ = Tensor::empty({channels_}, DType::f32, out.device());
  }
  if (fused_relu_)
    ops::batchnorm_relu_forward_train(p_, in[0], params_[0], params_[1], out, save_mean_, save_var_,
                                      buffers_[0], buffers_[1], workspace_);
  else
    ops::batchnorm_forward_train(p_, in[0], params_[0], params_[1], out, save_mean_, save_var_,
                                 buffers_[0], buffers_[1]);
}

void BatchNorm2d::backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                           const Tensor& dout, std::vector<Tensor>& din) {
  SDL_ASSERT(din[0].defined(), "batchnorm backward needs an input gradient buffer");
  if (fused_relu_)
    ops::batchnorm_relu_backward(p_, in[0], out, workspace_, dout, params_[0], save_mean_,
                                 save_var_, din[0], grads_[0], grads_[1]);
  else
    ops::batchnorm_backward(p_, in[0], dout, params_[0], save_mean_, save_var_, din[0], grads_[0],
                            grads_[1]);
}

void Dropout::forward(const RunContext& ctx, const std::vector<Tensor>& in, Tensor& out) {
  masked_ = ctx.training && p_ > 0.f;
  if (!masked_) {
    out.copy_from(in[0]);
    return;
  }
  if (!mask_.defined() || mask_.numel() != out.numel())
    mask_ = Tensor::empty(out.shape(), DType::u8, out.device(), out.layout());
  uint64_t seed = hash_words(ctx.seed, static_cast<uint64_t>(ctx.step), ctx.node);
  ops::dropout_forward(p_, seed, in[0], out, mask_);
}

void Dropout::backward(const RunContext&, const std::vector<Tensor>&, const Tensor&,
                       const Tensor& dout, std::vector<Tensor>& din) {
  if (!din[0].defined()) return;
  if (masked_)
    ops::dropout_backward(p_, mask_, dout, din[0]);
  else
    din[0].copy_from(dout);
}

}  // namespace scaledl
