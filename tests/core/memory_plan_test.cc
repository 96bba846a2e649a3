// plan_memory (core/memory_plan.h): buffers alive at the same step never share bytes, offsets
// are aligned, and the arena is at least the largest total alive at one step.
#include "core/memory_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "core/rng.h"

namespace scaledl {
namespace {

int64_t peak_alive(const std::vector<BufferLife>& b) {
  std::map<int, int64_t> delta;
  for (const BufferLife& x : b) delta[x.first] += x.bytes, delta[x.last + 1] -= x.bytes;
  int64_t live = 0, peak = 0;
  for (const auto& [step, d] : delta) peak = std::max(peak, live += d);
  return peak;
}

TEST(MemoryPlan, BuffersAliveTogetherNeverShareBytes) {
  Rng rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferLife> b(40);
    for (BufferLife& x : b) {
      x.first = static_cast<int>(rng.below(30));
      x.last = x.first + static_cast<int>(rng.below(8));
      x.bytes = 1 + static_cast<int64_t>(rng.below(5000));
    }
    const MemoryPlan p = plan_memory(b, 64);
    ASSERT_EQ(p.offsets.size(), b.size());
    for (size_t i = 0; i < b.size(); ++i) {
      ASSERT_EQ(p.offsets[i] % 64, 0);
      ASSERT_LE(p.offsets[i] + b[i].bytes, p.arena_bytes);
      for (size_t j = 0; j < i; ++j) {
        const bool together = b[i].first <= b[j].last && b[j].first <= b[i].last;
        const bool overlap =
            p.offsets[i] < p.offsets[j] + b[j].bytes && p.offsets[j] < p.offsets[i] + b[i].bytes;
        ASSERT_FALSE(together && overlap) << "trial " << trial << ": buffers " << i << ", " << j;
      }
    }
    EXPECT_GE(p.arena_bytes, peak_alive(b));
    EXPECT_LE(p.arena_bytes, p.unplanned_bytes);
  }
}

TEST(MemoryPlan, AChainNeedsTwoBuffers) {
  // Buffer i is written at step i and read at step i + 1, as gradients along a chain of layers.
  std::vector<BufferLife> b;
  for (int i = 0; i < 10; ++i) b.push_back({1024, i, i + 1});
  const MemoryPlan p = plan_memory(b, 64);
  EXPECT_EQ(p.arena_bytes, 2 * 1024);
  EXPECT_EQ(p.unplanned_bytes, 10 * 1024);
}

}  // namespace
}  // namespace scaledl
