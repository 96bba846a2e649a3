// Aligned host memory (64 bytes, the widest vector register and a cache line).
#pragma once
#include <cstddef>
#include <memory>

namespace scaledl {

constexpr size_t kAlignment = 64;

struct AlignedFree {
  void operator()(void* p) const noexcept;
};
using AlignedBuffer = std::unique_ptr<void, AlignedFree>;

// Allocates `bytes` (rounded up to the alignment); throws Error when memory runs out.
AlignedBuffer aligned_alloc_bytes(size_t bytes);

}  // namespace scaledl
