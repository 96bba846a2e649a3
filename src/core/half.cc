// f16/bf16 conversions: portable bit manipulation, and F16C (x86) for f16 sums when the CPU has
// it, chosen once at run time so one binary runs on every x86-64.
#include "core/half.h"

#include <bit>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace scaledl::half {

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in f32
    const float mag = static_cast<float>(mant) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(mag) | sign);
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf, NaN
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

// After F. Giesen's float_to_half_fast3_rtne: the subnormal range rounds by adding a magic
// number in float arithmetic (the FPU rounds to nearest even), the normal range by integer
// rounding on the bit pattern.
uint16_t f32_to_f16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint32_t o;
  if (u >= (127u + 16) << 23) {             // |f| >= 65536 (or inf, NaN)
    o = u > 0x7f800000u ? 0x7e00 : 0x7c00;  // NaN stays NaN, the rest overflows to inf
  } else if (u < (127u - 14) << 23) {       // below the smallest normal f16, 2^-14
    const uint32_t magic = ((127u - 15) + (23 - 10) + 1) << 23;  // 0.5f
    const float r = std::bit_cast<float>(u) + std::bit_cast<float>(magic);
    o = std::bit_cast<uint32_t>(r) - magic;
  } else {
    const uint32_t mant_odd = (u >> 13) & 1;
    u += ((15u - 127) << 23) + 0xfff;  // re-bias the exponent (wraps), round half up...
    u += mant_odd;                     // ...and half to even
    o = u >> 13;                       // 65520 and above carry into the inf pattern
  }
  return static_cast<uint16_t>(o | (sign >> 16));
}

uint16_t f32_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

void f16_add_portable(const uint16_t* in, uint16_t* inout, size_t n) {
  for (size_t i = 0; i < n; ++i) inout[i] = f32_to_f16(f16_to_f32(in[i]) + f16_to_f32(inout[i]));
}

#if defined(__x86_64__)
namespace {
__attribute__((target("avx,f16c"))) void f16_add_f16c(const uint16_t* in, uint16_t* inout,
                                                      size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
    const __m256 b = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(inout + i)));
    const __m128i s = _mm256_cvtps_ph(_mm256_add_ps(a, b), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(inout + i), s);
  }
  for (; i < n; ++i)
    inout[i] = _cvtss_sh(_cvtsh_ss(in[i]) + _cvtsh_ss(inout[i]), _MM_FROUND_TO_NEAREST_INT);
}
}  // namespace

bool have_f16c() {
  // CPUID leaf 1, ECX bit 29 (F16C): clang before 15 knows no "f16c" for __builtin_cpu_supports.
  static const bool yes = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
  }();
  return yes;
}

void f16_add(const uint16_t* in, uint16_t* inout, size_t n) {
  if (have_f16c()) return f16_add_f16c(in, inout, n);
  f16_add_portable(in, inout, n);
}
#else
bool have_f16c() {
  return false;
}
void f16_add(const uint16_t* in, uint16_t* inout, size_t n) {
  f16_add_portable(in, inout, n);
}
#endif

void bf16_add(const uint16_t* in, uint16_t* inout, size_t n) {
  for (size_t i = 0; i < n; ++i) inout[i] = f32_to_bf16(bf16_to_f32(in[i]) + bf16_to_f32(inout[i]));
}

void f16_div(uint16_t* data, size_t n, float divisor) {
  for (size_t i = 0; i < n; ++i) data[i] = f32_to_f16(f16_to_f32(data[i]) / divisor);
}

void bf16_div(uint16_t* data, size_t n, float divisor) {
  for (size_t i = 0; i < n; ++i) data[i] = f32_to_bf16(bf16_to_f32(data[i]) / divisor);
}

}  // namespace scaledl::half
