// Synthetic data: class mean patterns of blocky grey cells, plus Gaussian pixel noise.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/rng.h"

namespace scaledl {

ImageSet make_synthetic(int64_t n, int c, int h, int w, int classes, uint64_t seed) {
  if (n < 0 || c < 1 || h < 1 || w < 1 || classes < 1)
    throw Error("data",
                "synthetic set needs n >= 0 and positive channels, size and classes (got n=" +
                    std::to_string(n) + " c=" + std::to_string(c) + " h=" + std::to_string(h) +
                    " w=" + std::to_string(w) + " classes=" + std::to_string(classes) + ")");
  const int64_t pixels = int64_t{h} * w * c;
  // Class means: square cells (about 8 across the image) of random grey levels in [32, 224].
  const int cell = std::max(1, std::min(h, w) / 8);
  std::vector<float> means(static_cast<size_t>(classes * pixels));
  for (int k = 0; k < classes; ++k)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < c; ++ch) {
          const uint64_t cell_id = (uint64_t(y / cell) << 32) | (uint64_t(x / cell) << 8) | ch;
          const float level = 32.f + 192.f * bits_to_unit(hash_words(seed, 0x6d65616e, k, cell_id));
          means[static_cast<size_t>(k * pixels + (int64_t{y} * w + x) * c + ch)] = level;
        }
  ImageSet set;
  set.classes = classes;
  set.labels.resize(static_cast<size_t>(n));
  set.images = Tensor::empty({n, h, w, c}, DType::u8);
  uint8_t* out = set.images.data<uint8_t>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(hash_words(seed, 0x73616d70 /* samp */, static_cast<uint64_t>(i)));
    const int label = static_cast<int>(rng.below(static_cast<uint64_t>(classes)));
    set.labels[static_cast<size_t>(i)] = label;
    const float* mean = means.data() + label * pixels;
    uint8_t* img = out + i * pixels;
    for (int64_t p = 0; p < pixels; ++p)
      img[p] =
          static_cast<uint8_t>(std::clamp(std::lround(mean[p] + rng.normal(0.f, 40.f)), 0l, 255l));
  }
  for (int k = 0; k < classes; ++k) set.class_names.push_back("class" + std::to_string(k));
  return set;
}

}  // namespace scaledl
