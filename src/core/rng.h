// Seeded random numbers: a splitmix64 generator whose whole state is one uint64 (so it fits in
// a checkpoint), and stateless hashing for values that must depend only on their coordinates
// (a sample's augmentation given seed/epoch/index, a dropout mask given seed/step/layer).
#pragma once
#include <cstdint>

namespace scaledl {

// One splitmix64 step of `x` (also a good 64-bit hash).
uint64_t mix64(uint64_t x);
// Hash of several words; the same words always give the same value.
uint64_t hash_words(uint64_t a, uint64_t b = 0, uint64_t c = 0, uint64_t d = 0);
// Uniform float in [0, 1) from 24 bits of `bits` (exact in f32).
inline float bits_to_unit(uint64_t bits) { return static_cast<float>(bits >> 40) * 0x1.0p-24f; }

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  uint64_t next_u64();
  float uniform() { return bits_to_unit(next_u64()); }  // [0, 1)
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  float normal(float mean = 0.f, float stddev = 1.f);  // Box-Muller
  uint64_t below(uint64_t n);  // uniform integer in [0, n)
  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

 private:
  uint64_t state_;
};

}  // namespace scaledl
