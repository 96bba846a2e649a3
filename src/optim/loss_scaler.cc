// Dynamic loss scaling: growth, backoff, skipped steps.
#include "optim/loss_scaler.h"

#include <limits>

namespace scaledl {

LossScaler::LossScaler(LossScalerConfig config)
    : config_(config), scale_(config.enabled ? config.init_scale : 1.f) {}

bool LossScaler::update(bool grads_finite) {
  if (!config_.enabled) return true;
  if (!grads_finite) {
    // Never below the smallest normal f32: a scale of 0 would zero every gradient for good.
    const float next = scale_ * config_.backoff_factor;
    scale_ = next < std::numeric_limits<float>::min() ? std::numeric_limits<float>::min() : next;
    clean_ = 0;
    ++skipped_;
    return false;
  }
  if (++clean_ >= config_.growth_interval) {
    const float next = scale_ * config_.growth_factor;
    if (next <= std::numeric_limits<float>::max()) scale_ = next, ++growths_;
    clean_ = 0;
  }
  return true;
}

void LossScaler::restore(float scale, int64_t clean_steps) {
  if (!config_.enabled) return;
  scale_ = scale;
  clean_ = clean_steps;
}

}  // namespace scaledl
