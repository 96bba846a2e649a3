// resize_bilinear: identity, a linear ramp and a 2x2 -> 4x4 case against the half-pixel
// (PyTorch align_corners=False) formula.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/rng.h"
#include "data/transform.h"

namespace scaledl {
namespace {

TEST(ResizeBilinear, IdentitySizeReturnsTheInput) {
  std::vector<uint8_t> px(13 * 9 * 3);
  Rng rng(3);
  for (auto& v : px) v = static_cast<uint8_t>(rng.next_u64());
  std::vector<uint8_t> out(px.size());
  resize_bilinear(px.data(), 13, 9, 3, {0, 0, 13, 9}, out.data(), 13, 9);
  EXPECT_EQ(out, px);
  // Of a region: the region itself.
  std::vector<uint8_t> sub(5 * 4 * 3), want;
  resize_bilinear(px.data(), 13, 9, 3, {3, 2, 5, 4}, sub.data(), 5, 4);
  for (int y = 2; y < 6; ++y)
    want.insert(want.end(), px.begin() + (y * 13 + 3) * 3, px.begin() + (y * 13 + 8) * 3);
  EXPECT_EQ(sub, want);
}

TEST(ResizeBilinear, HorizontalRampStaysLinear) {
  const int sw = 21, sh = 3;
  std::vector<uint8_t> px(sw * sh);
  for (int y = 0; y < sh; ++y)
    for (int x = 0; x < sw; ++x) px[y * sw + x] = static_cast<uint8_t>(10 * x);
  for (int dw : {50, 8, 21, 64}) {
    std::vector<uint8_t> out(static_cast<size_t>(dw) * 2);
    resize_bilinear(px.data(), sw, sh, 1, {0, 0, sw, sh}, out.data(), dw, 2);
    for (int j = 0; j < dw; ++j) {
      // Half-pixel centres: source x of output column j, clamped to the image.
      const double sx = std::clamp((j + 0.5) * sw / dw - 0.5, 0.0, sw - 1.0);
      for (int y = 0; y < 2; ++y)
        EXPECT_NEAR(out[y * dw + j], 10.0 * sx, 0.5 + 1e-4) << dw << " " << j;
    }
  }
}

TEST(ResizeBilinear, TwoByTwoToFourByFourMatchesTheFormula) {
  const double a = 16, b = 80, c = 160, d = 240;
  const std::vector<uint8_t> px = {16, 80, 160, 240};
  std::vector<uint8_t> out(16);
  resize_bilinear(px.data(), 2, 2, 1, {0, 0, 2, 2}, out.data(), 4, 4);
  // PyTorch interpolate(bilinear, align_corners=False): source coordinate (i + 0.5) / 2 - 0.5
  // clamped to [0, 1] is 0, .25, .75, 1 -> first row [a, .75a+.25b, .25a+.75b, b].
  const double pos[4] = {0, 0.25, 0.75, 1};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const double ly = pos[i], lx = pos[j];
      const double want = (1 - ly) * ((1 - lx) * a + lx * b) + ly * ((1 - lx) * c + lx * d);
      EXPECT_EQ(out[i * 4 + j], want) << i << "," << j;  // all exact integers for these values
    }
  EXPECT_EQ(out[1], 0.75 * a + 0.25 * b);
}

}  // namespace
}  // namespace scaledl
