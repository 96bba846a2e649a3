// Reference cast between f32, f16 and bf16 (with a scale factor) and the all-finite check;
// the cpu backend runs these same loops (one pass over memory, nothing for oneDNN to fuse),
// the cast split over the compute threads.
#include <cmath>
#include <string>

#include "core/half.h"
#include "ops/checks.h"
#include "ops/ops.h"

namespace scaledl {

namespace {

float load(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::f16:
      return half::f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::bf16:
      return half::bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

void store(DType t, void* p, int64_t i, float v) {
  switch (t) {
    case DType::f16:
      static_cast<uint16_t*>(p)[i] = half::f32_to_f16(v);
      break;
    case DType::bf16:
      static_cast<uint16_t*>(p)[i] = half::f32_to_bf16(v);
      break;
    default:
      static_cast<float*>(p)[i] = v;
  }
}

void host_cast(const Tensor& x, Tensor& y, float scale) {
  const char* op = "cast";
  // Dtypes, sizes and layouts are validated before dispatch (ops/validate.cc); the emulation
  // calls this directly on tensors it made.
  SDL_REQUIRE(x.device().is_cpu(), op, "x must be a cpu tensor, got " + x.str());
  const void* s = x.raw();
  void* d = y.raw();
  const DType from = x.dtype(), to = y.dtype();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) store(to, d, i, scale * load(from, s, i));
}

bool host_all_finite(const Tensor& x) {
  SDL_REQUIRE(x.device().is_cpu(), "all_finite", "x must be a cpu tensor, got " + x.str());
  const void* p = x.raw();
  for (int64_t i = 0, n = x.numel(); i < n; ++i)
    if (!std::isfinite(load(x.dtype(), p, i))) return false;
  return true;
}

}  // namespace

namespace ref {
void cast(const Tensor& x, Tensor& y, float scale) {
  host_cast(x, y, scale);
}
bool all_finite(const Tensor& x) {
  return host_all_finite(x);
}
}  // namespace ref

namespace cpu {
void cast(const Tensor& x, Tensor& y, float scale) {
  host_cast(x, y, scale);
}
bool all_finite(const Tensor& x) {
  return host_all_finite(x);
}
}  // namespace cpu

}  // namespace scaledl
