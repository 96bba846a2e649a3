// Synthetic image sets: deterministic from a seed and learnable (each class has its own mean
// image; samples are that mean plus noise), for tests and benchmarks without real data.
#pragma once
#include <cstdint>

#include "data/image_set.h"

namespace scaledl {

// n images of c x h x w (u8, stored [n, h, w, c]) with labels in [0, classes).
ImageSet make_synthetic(int64_t n, int c, int h, int w, int classes, uint64_t seed);

}  // namespace scaledl
