// Batch normalization through cuDNN (spatial; the persistent kernels for nhwc f16/bf16).
// Statistics and affine parameters stay f32 whatever the activations' dtype. cuDNN saves the
// inverse standard deviation; the op contract keeps the biased variance in save_var, so it is
// converted on the way out and back (a [C] kernel each).
#include <string>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/cudnn_desc.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/launch.h"
#include "backend/cuda/runtime.h"
#include "ops/ops.h"

namespace scaledl::cuda {

namespace {

const float kOne = 1.f, kZero = 0.f;

cudnnBatchNormMode_t mode_for(const Tensor& x) {
  return x.layout() == Layout::nhwc && x.dtype() != DType::f32 ? CUDNN_BATCHNORM_SPATIAL_PERSISTENT
                                                               : CUDNN_BATCHNORM_SPATIAL;
}

// Shapes, f32 [C] statistics and one device for all were validated before dispatch
// (ops/validate.cc); what is this backend's own: x's dtype on a CUDA device, cuDNN's least eps.
void check_x(const char* op, const BatchNormParams& p, const Tensor& x) {
  require_cuda_float(op, "input", x);
  SDL_REQUIRE(p.eps >= static_cast<float>(CUDNN_BN_MIN_EPSILON), op,
              "eps " + std::to_string(p.eps) + " is below cuDNN's minimum " +
                  std::to_string(CUDNN_BN_MIN_EPSILON));
}

}  // namespace

void batchnorm_forward_train(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, Tensor& y, Tensor& save_mean, Tensor& save_var,
                             Tensor& running_mean, Tensor& running_var) {
  const char* op = "batchnorm_forward_train";
  check_x(op, p, x);
  Context& c = context(y.device());
  const cudnnBatchNormMode_t mode = mode_for(x);
  TensorDesc xd(x), yd(y);
  TensorDesc sd(xd, mode);
  Tensor invstd = Tensor::empty({x.dim(1)}, DType::f32, x.device());
  SDL_CUDNN(cudnnBatchNormalizationForwardTraining(
      c.cudnn, mode, &kOne, &kZero, xd.get(), x.raw(), yd.get(), y.raw(), sd.get(), gamma.raw(),
      beta.raw(), p.momentum, running_mean.raw(), running_var.raw(), p.eps, save_mean.raw(),
      invstd.raw()));
  invstd_to_var(invstd, p.eps, save_var);
}

void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, Tensor& y) {
  const char* op = "batchnorm_forward_inference";
  check_x(op, p, x);
  Context& c = context(y.device());
  TensorDesc xd(x), yd(y);
  TensorDesc sd(xd, CUDNN_BATCHNORM_SPATIAL);
  SDL_CUDNN(cudnnBatchNormalizationForwardInference(
      c.cudnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xd.get(), x.raw(), yd.get(), y.raw(),
      sd.get(), gamma.raw(), beta.raw(), running_mean.raw(), running_var.raw(), p.eps));
}

void batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                        const Tensor& gamma, const Tensor& save_mean, const Tensor& save_var,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const char* op = "batchnorm_backward";
  check_x(op, p, x);
  Context& c = context(dx.device());
  const cudnnBatchNormMode_t mode = mode_for(x);
  TensorDesc xd(x), dyd(dy), dxd(dx);
  TensorDesc sd(xd, mode);
  Tensor invstd = Tensor::empty({x.dim(1)}, DType::f32, x.device());
  var_to_invstd(save_var, p.eps, invstd);
  SDL_CUDNN(cudnnBatchNormalizationBackward(c.cudnn, mode, &kOne, &kZero, &kOne, &kZero, xd.get(),
                                            x.raw(), dyd.get(), dy.raw(), dxd.get(), dx.raw(),
                                            sd.get(), gamma.raw(), dgamma.raw(), dbeta.raw(), p.eps,
                                            save_mean.raw(), invstd.raw()));
}

// Batch norm + ReLU is not fused on the GPU: supports() answers false for both ops, and the Net
// runs batch norm and an in-place ReLU there instead.
void batchnorm_relu_forward_train(const BatchNormParams&, const Tensor&, const Tensor&,
                                  const Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&,
                                  Tensor&) {
  throw Error("batchnorm_relu_forward_train",
              "has no cuda implementation; run batchnorm_forward_train and relu_forward");
}
void batchnorm_relu_backward(const BatchNormParams&, const Tensor&, const Tensor&, const Tensor&,
                             const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&,
                             Tensor&, Tensor&) {
  throw Error("batchnorm_relu_backward",
              "has no cuda implementation; run relu_backward and batchnorm_backward");
}

}  // namespace scaledl::cuda
