// Tensor: shapes, views over shared storage, layouts, clone.
#include "core/tensor.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/rng.h"

namespace scaledl {

TEST(Tensor, ViewSharesStorageClonesDoNot) {
  Tensor flat = Tensor::zeros({10});
  Tensor v = flat.view({2, 3}, 4);
  v.fill(2.f);
  EXPECT_EQ(flat.at(3), 0.f);
  EXPECT_EQ(flat.at(4), 2.f);
  EXPECT_EQ(flat.at(9), 2.f);
  Tensor c = flat.clone();
  c.fill(7.f);
  EXPECT_EQ(flat.at(4), 2.f);
  EXPECT_THROW(flat.view({3, 3}, 4), Error);
}

TEST(Tensor, LayoutRoundTrip) {
  std::vector<float> vals(2 * 3 * 4 * 5);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<float>(i);
  Tensor x = Tensor::from({2, 3, 4, 5}, vals);
  Tensor y = to_layout(x, Layout::nhwc);
  // element (n=1, c=2, h=3, w=4) sits at ((1*4+3)*5+4)*3+2 in nhwc.
  EXPECT_EQ(y.at(((1 * 4 + 3) * 5 + 4) * 3 + 2), x.at(((1 * 3 + 2) * 4 + 3) * 5 + 4));
  EXPECT_EQ(to_layout(y, Layout::nchw).to_vector(), vals);
}

TEST(Tensor, RejectsNegativeShapeAndBadDtype) {
  EXPECT_THROW(Tensor::empty({2, -1}), Error);
  EXPECT_THROW(parse_dtype("f64"), Error);
  EXPECT_EQ(parse_dtype("bf16"), DType::bf16);
  EXPECT_EQ(Tensor::empty({3}, DType::bf16).nbytes(), 6u);
}

TEST(Rng, DeterministicAndResumable) {
  Rng a(42), b(42);
  for (int i = 0; i < 5; ++i) a.next_u64(), b.next_u64();
  uint64_t saved = a.state();
  float x = a.uniform();
  Rng c(0);
  c.set_state(saved);
  EXPECT_EQ(c.uniform(), x);
  EXPECT_EQ(hash_words(1, 2, 3), hash_words(1, 2, 3));
  EXPECT_NE(hash_words(1, 2, 3), hash_words(1, 2, 4));
  double sum = 0;
  Rng r(7);
  for (int i = 0; i < 10000; ++i) sum += r.uniform();
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
}

}  // namespace scaledl
