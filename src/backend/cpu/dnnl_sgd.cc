// SGD with momentum, weight decay, Nesterov and gradient unscaling: one vectorizable OpenMP
// loop over the parameter, in place (PyTorch semantics, the formula in ops/op_table.inc).
#include "backend/cpu/dnnl_common.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;

namespace {
// The momentum update over n elements; mask null: weight decay everywhere.
void update(const SgdParams& p, float* w, const float* g_in, float* m, const uint8_t* mask,
            int64_t n) {
  const float lr = p.lr, mom = p.momentum, wd = p.weight_decay, gs = p.grad_scale;
  const bool nesterov = p.nesterov;
#pragma omp parallel for simd schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const float g = g_in[i] * gs + (!mask || mask[i] ? wd * w[i] : 0.f);
    const float mi = mom * m[i] + g;
    m[i] = mi;
    w[i] -= lr * (nesterov ? g + mom * mi : mi);
  }
}
}  // namespace

void sgd_update(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum) {
  // Tensors validated before dispatch (ops/validate.cc): momentum may be undefined when the
  // momentum factor is 0.
  const bool has_m = momentum.defined();
  const int64_t n = param.numel();
  float* w = param.data<float>();
  const float* g_in = grad.data<float>();
  const float lr = p.lr, mom = p.momentum, wd = p.weight_decay, gs = p.grad_scale;
  if (!has_m) {
    // m = 0 * m + g = g.
#pragma omp parallel for simd schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; ++i) {
      const float g = g_in[i] * gs + wd * w[i];
      w[i] -= lr * (p.nesterov ? g + mom * g : g);
    }
    return;
  }
  update(p, w, g_in, momentum.data<float>(), nullptr, n);
}

void sgd_update_masked(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum,
                       const Tensor& decay_mask) {
  constexpr const char* op = "sgd_update_masked";
  require_defined(op, "momentum", momentum);  // the masked update always keeps momentum
  update(p, param.data<float>(), grad.data<float>(), momentum.data<float>(),
         decay_mask.data<uint8_t>(), param.numel());
}

}  // namespace scaledl::cpu
