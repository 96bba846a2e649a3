// Memory planning by liveness: buffers whose lifetimes (first and last step that touch them) do
// not overlap may share bytes of one arena. Greedy: largest first, each at the lowest offset
// that collides with no placed buffer alive at the same time (aligned). The inference engine
// places its values with it, the training Net its activation gradients.
#pragma once
#include <cstdint>
#include <vector>

namespace scaledl {

struct BufferLife {
  int64_t bytes = 0;
  int first = 0, last = 0;  // inclusive step indices
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // per buffer, in the arena
  int64_t arena_bytes = 0;       // the peak: what the plan allocates
  int64_t unplanned_bytes = 0;   // the sum of all buffers (one allocation each)
};

MemoryPlan plan_memory(const std::vector<BufferLife>& buffers, int64_t alignment = 64);

}  // namespace scaledl
