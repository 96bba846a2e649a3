// LARS: per-tensor trust ratios applied to the gradients, then the SGD update.
#include "optim/lars.h"

#include <cmath>

#include "core/error.h"

namespace scaledl {

namespace {
SgdConfig plain_momentum(const LarsConfig& c) {
  SgdConfig s;
  s.momentum = c.momentum;
  s.nesterov = c.nesterov;
  s.weight_decay = 0.f;  // LARS applies the decay itself, inside the trust-scaled gradient
  return s;
}

double norm2(const float* p, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(p[i]) * p[i];
  return std::sqrt(s);
}
}  // namespace

Lars::Lars(Net& net, LarsConfig config) : net_(net), config_(config), sgd_(net, plain_momentum(config)) {
  if (!(config_.eta > 0)) throw Error("config", "--lars-eta must be positive");
  if (!net.flat_params().device().is_cpu())
    throw Error("optim", "--optimizer lars runs on --device cpu only (its trust ratios are "
                        "computed on the host); use --optimizer sgd on " +
                        net.flat_params().device().str());
}

void Lars::step(float lr, float grad_scale) {
  const auto& params = net_.params();
  trust_.assign(params.size(), 1.f);
  for (size_t i = 0; i < params.size(); ++i) {
    const NetParam& p = params[i];
    float* g = p.grad.data<float>();
    const float* w = p.value.data<float>();
    const int64_t n = p.value.numel();
    if (p.is_norm_or_bias) {
      if (grad_scale != 1.f)
        for (int64_t k = 0; k < n; ++k) g[k] *= grad_scale;
      continue;
    }
    const double wn = norm2(w, n), gn = norm2(g, n) * grad_scale;
    const double wd = config_.weight_decay;
    const double trust = wn > 0 && gn > 0 ? config_.eta * wn / (gn + wd * wn) : 1.0;
    trust_[i] = static_cast<float>(trust);
    const float a = static_cast<float>(trust * grad_scale), b = static_cast<float>(trust * wd);
    for (int64_t k = 0; k < n; ++k) g[k] = a * g[k] + b * w[k];
  }
  sgd_.step(lr, 1.f);
}

}  // namespace scaledl
