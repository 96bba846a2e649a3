// Aligned host allocation.
#include "core/allocator.h"

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace scaledl {

void AlignedFree::operator()(void* p) const noexcept { std::free(p); }

AlignedBuffer aligned_alloc_bytes(size_t bytes) {
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (!p)
    throw Error("memory", "cannot allocate " + std::to_string(bytes) +
                              " bytes of host memory; use a smaller --batch or model");
  return AlignedBuffer(p);
}

}  // namespace scaledl
