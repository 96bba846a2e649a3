// LossScaler: dynamic loss scaling for f16 training (as torch.cuda.amp.GradScaler). The loss's
// gradient is multiplied by scale() before backward so small f16 gradients survive; the
// optimizer divides it back out. A step whose gradients hold an inf or NaN is skipped and the
// scale backs off; after `growth_interval` clean steps in a row it grows.
#pragma once
#include <cstdint>

namespace scaledl {

struct LossScalerConfig {
  float init_scale = 65536.f;  // 2^16, as PyTorch
  float growth_factor = 2.f;
  float backoff_factor = 0.5f;
  int64_t growth_interval = 2000;
  bool enabled = true;  // off: scale 1, every step applied (f32, tf32, bf16)
};

class LossScaler {
 public:
  explicit LossScaler(LossScalerConfig config = {});
  float scale() const { return scale_; }
  // After backward: whether the step is applied (finite gradients); updates the scale.
  bool update(bool grads_finite);
  int64_t skipped() const { return skipped_; }
  int64_t growths() const { return growths_; }
  bool enabled() const { return config_.enabled; }
  // Resuming: the scale and the clean-step count a checkpoint recorded.
  void restore(float scale, int64_t clean_steps);
  int64_t clean_steps() const { return clean_; }

 private:
  LossScalerConfig config_;
  float scale_;
  int64_t clean_ = 0, skipped_ = 0, growths_ = 0;
};

}  // namespace scaledl
