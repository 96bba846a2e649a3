// Learning-rate schedules (step, cosine, polynomial), each after a linear warmup.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scaledl {

struct Schedule {
  enum class Kind { constant, step, cosine, poly };
  Kind kind = Kind::cosine;
  float base_lr = 0.1f;
  int64_t warmup_steps = 0;  // lr rises linearly from base_lr/warmup_steps to base_lr
  int64_t total_steps = 1;
  std::vector<int64_t> milestones;  // step: lr *= gamma at each milestone step
  float gamma = 0.1f;
  float power = 2.f;   // poly: (1 - progress)^power
  float end_lr = 0.f;  // cosine and poly decay towards this
};

// The learning rate for the update at 0-based `step`.
float lr_at(const Schedule& s, int64_t step);

}  // namespace scaledl
