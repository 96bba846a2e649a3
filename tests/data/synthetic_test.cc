// Synthetic image sets: deterministic from the seed, labels in range, learnable.
#include "data/synthetic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace scaledl {
namespace {

TEST(Synthetic, DeterministicFromSeed) {
  ImageSet a = make_synthetic(64, 3, 8, 8, 10, 5), b = make_synthetic(64, 3, 8, 8, 10, 5);
  ImageSet c = make_synthetic(64, 3, 8, 8, 10, 6);
  EXPECT_EQ(a.images.shape(), (Shape{64, 8, 8, 3}));
  EXPECT_EQ(a.images.dtype(), DType::u8);
  EXPECT_EQ(std::memcmp(a.images.raw(), b.images.raw(), a.images.nbytes()), 0);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_NE(std::memcmp(a.images.raw(), c.images.raw(), a.images.nbytes()), 0);
  EXPECT_EQ(a.classes, 10);
  EXPECT_EQ(a.class_names.size(), 10u);
  std::vector<int> counts(10);
  for (int32_t l : a.labels) {
    ASSERT_GE(l, 0);
    ASSERT_LT(l, 10);
    counts[static_cast<size_t>(l)]++;
  }
  EXPECT_GE(*std::min_element(counts.begin(), counts.end()), 1);
  EXPECT_THROW(make_synthetic(4, 0, 8, 8, 10, 1), Error);
}

// A nearest-class-mean classifier fit on 800 samples labels 200 held-out ones almost perfectly.
TEST(Synthetic, Learnable) {
  const int classes = 10, pixels = 1 * 12 * 12;
  ImageSet set = make_synthetic(1000, 1, 12, 12, classes, 21);
  const uint8_t* img = set.images.data<uint8_t>();
  std::vector<double> mean(classes * pixels, 0.0);
  std::vector<int> count(classes, 0);
  for (int i = 0; i < 800; ++i) {
    int l = set.labels[static_cast<size_t>(i)];
    count[static_cast<size_t>(l)]++;
    for (int p = 0; p < pixels; ++p)
      mean[static_cast<size_t>(l * pixels + p)] += img[i * pixels + p];
  }
  for (int k = 0; k < classes; ++k)
    for (int p = 0; p < pixels; ++p)
      mean[static_cast<size_t>(k * pixels + p)] /= std::max(1, count[static_cast<size_t>(k)]);
  int correct = 0;
  for (int i = 800; i < 1000; ++i) {
    int best = -1;
    double best_d = 1e300;
    for (int k = 0; k < classes; ++k) {
      double d = 0;
      for (int p = 0; p < pixels; ++p) {
        double e = img[i * pixels + p] - mean[static_cast<size_t>(k * pixels + p)];
        d += e * e;
      }
      if (d < best_d) best_d = d, best = k;
    }
    correct += best == set.labels[static_cast<size_t>(i)];
  }
  EXPECT_GE(correct, 196);
}

}  // namespace
}  // namespace scaledl
