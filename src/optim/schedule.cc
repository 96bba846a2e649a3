// Learning-rate schedules.
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace scaledl {

float lr_at(const Schedule& s, int64_t step) {
  if (step < s.warmup_steps) return s.base_lr * static_cast<float>(step + 1) / s.warmup_steps;
  int64_t span = std::max<int64_t>(1, s.total_steps - s.warmup_steps);
  double t = std::clamp(static_cast<double>(step - s.warmup_steps) / span, 0.0, 1.0);
  switch (s.kind) {
    case Schedule::Kind::constant:
      return s.base_lr;
    case Schedule::Kind::step: {
      float lr = s.base_lr;
      for (int64_t m : s.milestones)
        if (step >= m) lr *= s.gamma;
      return lr;
    }
    case Schedule::Kind::cosine:
      return static_cast<float>(s.end_lr + 0.5 * (s.base_lr - s.end_lr) * (1 + std::cos(M_PI * t)));
    case Schedule::Kind::poly:
      return static_cast<float>(s.end_lr + (s.base_lr - s.end_lr) * std::pow(1 - t, s.power));
  }
  return s.base_lr;
}

}  // namespace scaledl
