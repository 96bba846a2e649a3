// Test images shared by the data tests: index-encoding image sets, and smooth pixels with structure (gradients, a diagonal
// wave, a bright disc) that JPEG codes well, so decoded values can be compared closely.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "data/image_set.h"

namespace scaledl::testing {

// w x h x c u8 pixels, row-major (c = 1 takes the red plane).
inline std::vector<uint8_t> smooth_image(int w, int h, int c) {
  std::vector<uint8_t> p(static_cast<size_t>(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double wave = 40.0 * std::sin((x + 2.0 * y) / 23.0);
      const double dx = x - 0.6 * w, dy = y - 0.4 * h;
      const double disc = dx * dx + dy * dy < 0.04 * w * w ? 60.0 : 0.0;
      const double v[3] = {30.0 + 180.0 * x / w + disc, 20.0 + 160.0 * y / h + wave,
                           128.0 + wave * 0.5 - disc};
      for (int ch = 0; ch < c; ++ch)
        p[(static_cast<size_t>(y) * w + x) * c + ch] =
            static_cast<uint8_t>(std::lround(std::clamp(v[ch], 0.0, 255.0)));
    }
  return p;
}

// n images of 2x2x1 whose first two pixels encode the image's index (i % 256, i / 256) and
// whose third pixel is `third`; labels i % 7.
inline ImageSet indexed_set(int64_t n, uint8_t third = 0) {
  ImageSet set;
  set.images = Tensor::zeros({n, 2, 2, 1}, DType::u8);
  uint8_t* p = set.images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    p[i * 4] = static_cast<uint8_t>(i % 256);
    p[i * 4 + 1] = static_cast<uint8_t>(i / 256);
    p[i * 4 + 2] = third;
    set.labels.push_back(static_cast<int32_t>(i % 7));
  }
  set.classes = 7;
  return set;
}

}  // namespace scaledl::testing
