// Greedy-by-size arena placement of buffers with known lifetimes.
#include "core/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace scaledl {

MemoryPlan plan_memory(const std::vector<BufferLife>& buffers, int64_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(buffers.size(), 0);
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });
  auto align = [&](int64_t v) { return (v + alignment - 1) / alignment * alignment; };
  std::vector<size_t> placed;
  for (size_t i : order) {
    const BufferLife& b = buffers[i];
    plan.unplanned_bytes += align(b.bytes);
    // Intervals of live placed buffers, sorted by offset; take the first gap that fits.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed) {
      const BufferLife& o = buffers[j];
      if (o.last < b.first || b.last < o.first) continue;
      busy.emplace_back(plan.offsets[j], plan.offsets[j] + align(o.bytes));
    }
    std::sort(busy.begin(), busy.end());
    int64_t at = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo - at >= align(b.bytes)) break;
      at = std::max(at, hi);
    }
    plan.offsets[i] = at;
    plan.arena_bytes = std::max(plan.arena_bytes, at + align(b.bytes));
    placed.push_back(i);
  }
  return plan;
}

}  // namespace scaledl
