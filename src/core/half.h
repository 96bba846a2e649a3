// f16 and bf16 <-> f32 conversions (round-to-nearest-even) and the element-wise sums that the
// MPI group's f16/bf16 reductions use. Elements are uint16 bit patterns.
#pragma once
#include <cstddef>
#include <cstdint>

namespace scaledl::half {

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // NaN -> quiet NaN 0x7e00 (sign kept), overflow -> inf
inline float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // NaN -> a quiet NaN

// inout[i] = round(float(in[i]) + float(inout[i])): one rounding per pair, as MPI applies it.
void f16_add(const uint16_t* in, uint16_t* inout, size_t n);
void bf16_add(const uint16_t* in, uint16_t* inout, size_t n);
// data[i] = round(float(data[i]) / divisor): the average after a sum.
void f16_div(uint16_t* data, size_t n, float divisor);
void bf16_div(uint16_t* data, size_t n, float divisor);

// The portable f16_add, for tests that compare it with the F16C path.
void f16_add_portable(const uint16_t* in, uint16_t* inout, size_t n);
bool have_f16c();  // whether this CPU converts f16 in hardware (F16C)

inline float bf16_to_f32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

}  // namespace scaledl::half
