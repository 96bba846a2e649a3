// Batcher: determinism, epoch permutations, coverage, augmentation, layouts, partial batches.
#include "reference/batcher.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"
#include "data/synthetic.h"
#include "data/test_images.h"

namespace scaledl {
namespace {

using testing::indexed_set;

// Index encoded in row r of an nchw batch from indexed_set (no normalization: x/255).
int64_t decode(const Tensor& x, int64_t r) {
  const float* p = x.data<float>() + r * 4;
  return std::lround(p[0] * 255.f) + 256 * std::lround(p[1] * 255.f);
}

struct Batch {
  Tensor x, labels;
  int64_t real = 0;
};

Batch get(const Batcher& b, int64_t epoch, int64_t index) {
  Batch out{Tensor::empty(b.x_shape(), DType::f32, Device::cpu(), b.layout()),
            Tensor::empty({b.batch()}, DType::s32)};
  out.real = b.fill(epoch, index, out.x, out.labels);
  return out;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

Augment full_aug() {
  Augment aug;
  aug.pad = 3;
  aug.flip = true;
  aug.mean = {0.2f, 0.4f, 0.6f};
  aug.stddev = {0.5f, 0.25f, 0.3f};
  return aug;
}

TEST(Batcher, SameCoordinatesSameBatch) {
  ImageSet set = make_synthetic(500, 3, 8, 8, 5, 11);
  Batcher a(set, 64, true, false, full_aug(), Layout::nchw, 42);
  Batcher b(set, 64, true, false, full_aug(), Layout::nchw, 42);
  Batch first = get(a, 3, 5);
  get(a, 0, 1);  // other epochs in between must not matter
  get(a, 7, 2);
  Batch again = get(a, 3, 5), other = get(b, 3, 5);
  EXPECT_TRUE(same_bytes(first.x, again.x));
  EXPECT_TRUE(same_bytes(first.x, other.x));
  EXPECT_TRUE(same_bytes(first.labels, other.labels));
  Batcher c(set, 64, true, false, full_aug(), Layout::nchw, 43);  // another seed
  EXPECT_FALSE(same_bytes(first.x, get(c, 3, 5).x));
}

TEST(Batcher, EpochsHaveDifferentOrders) {
  Batcher b(indexed_set(1000), 100, true, true, {}, Layout::nchw, 1);
  std::vector<int64_t> e0, e1;
  for (int64_t i = 0; i < 1000; ++i) {
    e0.push_back(b.sample_at(0, i));
    e1.push_back(b.sample_at(1, i));
  }
  EXPECT_NE(e0, e1);
  int same = 0;
  for (int64_t i = 0; i < 1000; ++i)
    same += e0[static_cast<size_t>(i)] == e1[static_cast<size_t>(i)];
  EXPECT_LT(same, 20);  // about 1 expected for independent permutations
  // The batches agree with sample_at.
  Batch batch = get(b, 1, 3);
  for (int64_t r = 0; r < 100; ++r) EXPECT_EQ(decode(batch.x, r), e1[static_cast<size_t>(300 + r)]);
  // No shuffle: identity order.
  Batcher plain(indexed_set(1000), 100, false, true, {}, Layout::nchw, 1);
  Batch p = get(plain, 5, 2);
  for (int64_t r = 0; r < 100; ++r) EXPECT_EQ(decode(p.x, r), 200 + r);
}

TEST(Batcher, EverySampleOncePerEpochAndPartialLastBatch) {
  const int64_t n = 300;
  ImageSet set = indexed_set(n);
  Batcher b(set, 32, true, false, {}, Layout::nchw, 9);
  ASSERT_EQ(b.batches_per_epoch(), 10);
  for (int64_t epoch : {0, 1, 2}) {
    std::vector<int> seen(n, 0);
    for (int64_t i = 0; i < 10; ++i) {
      Batch batch = get(b, epoch, i);
      ASSERT_EQ(batch.real, i < 9 ? 32 : 12);
      const int32_t* labels = batch.labels.data<int32_t>();
      for (int64_t r = 0; r < batch.real; ++r) {
        int64_t idx = decode(batch.x, r);
        ASSERT_GE(idx, 0);
        ASSERT_LT(idx, n);
        seen[static_cast<size_t>(idx)]++;
        EXPECT_EQ(labels[r], set.labels[static_cast<size_t>(idx)]);
      }
      for (int64_t r = batch.real; r < 32; ++r) {  // padding rows: zero image, label 0
        EXPECT_EQ(labels[r], 0);
        for (int k = 0; k < 4; ++k) EXPECT_EQ(batch.x.at(r * 4 + k), 0.f);
      }
    }
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], 1) << "sample " << i;
  }
  Batcher dropping(set, 32, true, true, {}, Layout::nchw, 9);
  EXPECT_EQ(dropping.batches_per_epoch(), 9);
  EXPECT_EQ(get(dropping, 0, 8).real, 32);
  EXPECT_THROW(get(dropping, 0, 9), Error);
}

// A 3x3 single-channel image with pixels 1..9, repeated n times.
ImageSet tiny_set(int64_t n) {
  ImageSet set;
  set.images = Tensor::empty({n, 3, 3, 1}, DType::u8);
  for (int64_t i = 0; i < n * 9; ++i)
    set.images.data<uint8_t>()[i] = static_cast<uint8_t>(1 + i % 9);
  set.labels.assign(static_cast<size_t>(n), 0);
  set.classes = 1;
  return set;
}

// Pixel values (times 255) of row r of an nchw [.,1,3,3] batch.
std::vector<int> pixels(const Tensor& x, int64_t r) {
  std::vector<int> out;
  for (int k = 0; k < 9; ++k) out.push_back(static_cast<int>(std::lround(x.at(r * 9 + k) * 255.f)));
  return out;
}

TEST(Batcher, FlipMirrorsColumns) {
  Augment aug;
  aug.flip = true;
  Batcher b(tiny_set(64), 64, false, false, aug, Layout::nchw, 5);
  Batch batch = get(b, 0, 0);
  const std::vector<int> plain = {1, 2, 3, 4, 5, 6, 7, 8, 9},
                         mirrored = {3, 2, 1, 6, 5, 4, 9, 8, 7};
  int flips = 0;
  for (int64_t r = 0; r < 64; ++r) {
    std::vector<int> p = pixels(batch.x, r);
    ASSERT_TRUE(p == plain || p == mirrored) << "row " << r;
    flips += p == mirrored;
  }
  EXPECT_GT(flips, 10);
  EXPECT_LT(flips, 54);
}

TEST(Batcher, CropShiftsWithZeroPadding) {
  Augment aug;
  aug.pad = 1;
  Batcher b(tiny_set(400), 400, false, false, aug, Layout::nchw, 5);
  Batch batch = get(b, 2, 0);
  std::set<std::pair<int, int>> shifts;
  for (int64_t r = 0; r < 400; ++r) {
    std::vector<int> p = pixels(batch.x, r);
    bool matched = false;
    for (int dy = -1; dy <= 1 && !matched; ++dy)
      for (int dx = -1; dx <= 1 && !matched; ++dx) {
        // out(y, x) = img(y + dy, x + dx), zero outside.
        std::vector<int> want;
        for (int y = 0; y < 3; ++y)
          for (int x = 0; x < 3; ++x) {
            int sy = y + dy, sx = x + dx;
            want.push_back(sy >= 0 && sy < 3 && sx >= 0 && sx < 3 ? 1 + sy * 3 + sx : 0);
          }
        if (p == want) {
          matched = true;
          shifts.insert({dy, dx});
        }
      }
    ASSERT_TRUE(matched) << "row " << r << " is not a shifted copy";
  }
  EXPECT_EQ(shifts.size(), 9u);  // every offset of the 3x3 window occurs
}

TEST(Batcher, NormalizesPerChannel) {
  ImageSet set;
  set.images = Tensor::empty({1, 1, 1, 3}, DType::u8);
  uint8_t* p = set.images.data<uint8_t>();
  p[0] = 0, p[1] = 128, p[2] = 255;
  set.labels = {0};
  Augment aug;
  aug.mean = {0.5f, 0.5f, 0.1f};
  aug.stddev = {0.5f, 2.f, 0.9f};
  Batcher b(set, 1, false, false, aug, Layout::nchw, 0);
  Batch batch = get(b, 0, 0);
  EXPECT_FLOAT_EQ(batch.x.at(0), -1.f);
  EXPECT_FLOAT_EQ(batch.x.at(1), (128.f / 255.f - 0.5f) / 2.f);
  EXPECT_FLOAT_EQ(batch.x.at(2), 1.f);
  aug.mean = {0.5f, 0.5f};
  EXPECT_THROW(Batcher(set, 1, false, false, aug, Layout::nchw, 0), Error);
}

TEST(Batcher, NchwAndNhwcAgree) {
  ImageSet set = make_synthetic(100, 3, 6, 5, 4, 3);
  Batcher nchw(set, 16, true, false, full_aug(), Layout::nchw, 8);
  Batcher nhwc(set, 16, true, false, full_aug(), Layout::nhwc, 8);
  for (int64_t i : {0, 6}) {  // a full batch and the partial last one
    Batch a = get(nchw, 4, i), b = get(nhwc, 4, i);
    EXPECT_EQ(a.real, b.real);
    EXPECT_EQ(b.x.layout(), Layout::nhwc);
    EXPECT_TRUE(same_bytes(a.x, to_layout(b.x, Layout::nchw))) << "batch " << i;
    EXPECT_TRUE(same_bytes(a.labels, b.labels));
  }
}

TEST(Batcher, RejectsWrongTensors) {
  Batcher b(indexed_set(10), 4, false, false, {}, Layout::nhwc, 0);
  Tensor labels = Tensor::empty({4}, DType::s32);
  Tensor x_nchw = Tensor::empty({4, 1, 2, 2});
  EXPECT_THROW(b.fill(0, 0, x_nchw, labels), Error);
  Tensor x = Tensor::empty({4, 1, 2, 2}, DType::f32, Device::cpu(), Layout::nhwc);
  Tensor bad_labels = Tensor::empty({4});
  EXPECT_THROW(b.fill(0, 0, x, bad_labels), Error);
  EXPECT_EQ(b.fill(0, 2, x, labels), 2);
  EXPECT_THROW(b.fill(0, 3, x, labels), Error);
  EXPECT_THROW(Batcher(indexed_set(10), 0, false, false, {}, Layout::nchw, 0), Error);
}

}  // namespace
}  // namespace scaledl
