// Reference SGD step (PyTorch semantics: momentum, Nesterov, weight decay, gradient unscaling),
// in place on the parameter and its momentum buffer; the masked form decays only where the
// mask is non-zero.
#include <string>

#include "core/error.h"
#include "ops/checks.h"
#include "ops/ops.h"

namespace scaledl::ref {

namespace {
void sgd(const char* op, const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum,
         const uint8_t* mask) {
  // Tensors validated before dispatch (ops/validate.cc); this backend always keeps momentum.
  require_defined(op, "momentum", momentum);
  float* w = param.data<float>();
  const float* gr = grad.data<float>();
  float* m = momentum.data<float>();
  for (int64_t i = 0, n = param.numel(); i < n; ++i) {
    const float decay = !mask || mask[i] ? p.weight_decay * w[i] : 0.f;
    const float g = gr[i] * p.grad_scale + decay;
    m[i] = p.momentum * m[i] + g;
    w[i] -= p.lr * (p.nesterov ? g + p.momentum * m[i] : m[i]);
  }
}
}  // namespace

void sgd_update(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum) {
  sgd("sgd_update", p, param, grad, momentum, nullptr);
}

void sgd_update_masked(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum,
                       const Tensor& decay_mask) {
  const char* op = "sgd_update_masked";
  sgd(op, p, param, grad, momentum, decay_mask.data<uint8_t>());
}

}  // namespace scaledl::ref
