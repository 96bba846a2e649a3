// splitmix64 generator and hashing.
#include "core/rng.h"

#include <cmath>

namespace scaledl {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t hash_words(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  return mix64(mix64(mix64(mix64(a) ^ b) ^ c) ^ d);
}

uint64_t Rng::next_u64() {
  uint64_t out = mix64(state_);
  state_ += 0x9E3779B97F4A7C15ull;
  return out;
}

float Rng::normal(float mean, float stddev) {
  float u1 = uniform(), u2 = uniform();
  float r = std::sqrt(-2.f * std::log(1.f - u1));
  return mean + stddev * r * std::cos(6.28318530717958647692f * u2);
}

uint64_t Rng::below(uint64_t n) { return n ? next_u64() % n : 0; }

}  // namespace scaledl
