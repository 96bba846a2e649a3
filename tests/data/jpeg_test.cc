// JPEG: header probing, full / ROI / DCT-scaled decode against the full decode, grayscale to RGB,
// and corrupt inputs refused as DataCorrupt naming the sample.
#include "data/jpeg.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/corrupt.h"
#include "data/test_images.h"

namespace scaledl {
namespace {

std::vector<uint8_t> synthetic_rgb(int w, int h) { return testing::smooth_image(w, h, 3); }

double mean_abs(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  double s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
  return a.empty() ? 0.0 : s / static_cast<double>(a.size());
}

// rect of a decoded HWC image
std::vector<uint8_t> cut(const DecodedImage& im, Rect r) {
  std::vector<uint8_t> out;
  const int C = im.channels;
  for (int y = r.y; y < r.y + r.h; ++y)
    out.insert(out.end(), im.pixels.begin() + (static_cast<size_t>(y) * im.width + r.x) * C,
               im.pixels.begin() + (static_cast<size_t>(y) * im.width + r.x + r.w) * C);
  return out;
}

constexpr int kW = 333, kH = 250;

class JpegTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = synthetic_rgb(kW, kH);
    jpeg_ = encode_jpeg(src_.data(), kW, kH, 3, 95);
    decode_jpeg(jpeg_.data(), jpeg_.size(), nullptr, 8, 3, full_, "full");
  }
  std::vector<uint8_t> src_, jpeg_;
  DecodedImage full_;
};

TEST_F(JpegTest, InfoAndFullDecode) {
  const JpegInfo info = jpeg_info(jpeg_.data(), jpeg_.size(), "x.jpg");
  EXPECT_EQ(info.width, kW);
  EXPECT_EQ(info.height, kH);
  EXPECT_EQ(info.channels, 3);
  EXPECT_EQ(full_.width, kW);
  EXPECT_EQ(full_.height, kH);
  EXPECT_EQ(full_.channels, 3);
  EXPECT_LT(mean_abs(full_.pixels, src_), 3.0);
}

TEST_F(JpegTest, RoiDecodeIsPixelIdenticalToFullDecode) {
  // 4:2:0 at quality 95: iMCUs are 16 pixels wide, so x = 17, 31, 101 are off the boundary.
  const Rect rects[] = {{0, 0, kW, kH},
                        {17, 5, 100, 60},
                        {31, 33, 1, 1},
                        {kW - 1, kH - 1, 1, 1},
                        {101, 77, kW - 101, kH - 77},
                        {16, 16, 16, 16},
                        {0, 123, 7, 1},
                        {200, 0, 1, kH},
                        {15, 1, 2, 31}};
  for (const Rect& r : rects) {
    DecodedImage roi;
    decode_jpeg(jpeg_.data(), jpeg_.size(), &r, 8, 3, roi, "roi");
    ASSERT_EQ(roi.width, r.w);
    ASSERT_EQ(roi.height, r.h);
    EXPECT_EQ(roi.pixels, cut(full_, r))
        << "rect " << r.x << "," << r.y << " " << r.w << "x" << r.h;
  }
}

// Box-downscales `im` by 8 / s (an integer factor), edge blocks averaging what they cover.
std::vector<uint8_t> box_down(const DecodedImage& im, int f, int ow, int oh) {
  std::vector<uint8_t> out;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x)
      for (int c = 0; c < 3; ++c) {
        double s = 0;
        int n = 0;
        for (int yy = y * f; yy < std::min(im.height, (y + 1) * f); ++yy)
          for (int xx = x * f; xx < std::min(im.width, (x + 1) * f); ++xx, ++n)
            s += im.pixels[(static_cast<size_t>(yy) * im.width + xx) * 3 + c];
        out.push_back(static_cast<uint8_t>(std::lround(s / n)));
      }
  return out;
}

TEST_F(JpegTest, ScaledDecodeHasTheFormulaSizeAndIsCloseToABoxDownscale) {
  for (int s : {4, 2, 1}) {
    DecodedImage im;
    decode_jpeg(jpeg_.data(), jpeg_.size(), nullptr, s, 3, im, "scaled");
    EXPECT_EQ(im.width, (kW * s + 7) / 8);
    EXPECT_EQ(im.height, (kH * s + 7) / 8);
    EXPECT_LT(mean_abs(im.pixels, box_down(full_, 8 / s, im.width, im.height)), 4.0) << s;
    // A scaled ROI at an odd offset: the formula's size, and the same pixels as the scaled full
    // decode (within the rounding of a different iMCU phase).
    const Rect r{37, 21, 150, 99};
    DecodedImage roi;
    decode_jpeg(jpeg_.data(), jpeg_.size(), &r, s, 3, roi, "scaled roi");
    const int x0 = r.x * s / 8, y0 = r.y * s / 8;
    ASSERT_EQ(roi.width, ((r.x + r.w) * s + 7) / 8 - x0);
    ASSERT_EQ(roi.height, ((r.y + r.h) * s + 7) / 8 - y0);
    EXPECT_LT(mean_abs(roi.pixels, cut(im, {x0, y0, roi.width, roi.height})), 1.0) << s;
  }
}

TEST(Jpeg, GrayscaleJpegDecodesToEqualChannelsOrOne) {
  const int w = 41, h = 29;
  std::vector<uint8_t> g(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) g[static_cast<size_t>(y) * w + x] = static_cast<uint8_t>(5 * x + y);
  const std::vector<uint8_t> j = encode_jpeg(g.data(), w, h, 1, 95);
  EXPECT_EQ(jpeg_info(j.data(), j.size(), "g").channels, 1);
  DecodedImage rgb, gray;
  decode_jpeg(j.data(), j.size(), nullptr, 8, 3, rgb, "g");
  decode_jpeg(j.data(), j.size(), nullptr, 8, 1, gray, "g");
  ASSERT_EQ(rgb.channels, 3);
  ASSERT_EQ(rgb.pixels.size(), g.size() * 3);
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_EQ(rgb.pixels[i * 3], rgb.pixels[i * 3 + 1]);
    EXPECT_EQ(rgb.pixels[i * 3], rgb.pixels[i * 3 + 2]);
    EXPECT_EQ(rgb.pixels[i * 3], gray.pixels[i]);
  }
  EXPECT_LT(mean_abs(gray.pixels, g), 3.0);
}

TEST_F(JpegTest, CmykJpegDecodesToRgbAndItsRegionsToo) {
  // Adobe-style inverted inks holding the image: C' = R, M' = G, Y' = B, K' = 255 (no black).
  std::vector<uint8_t> inks(static_cast<size_t>(kW) * kH * 4);
  for (size_t i = 0; i < static_cast<size_t>(kW) * kH; ++i) {
    for (int c = 0; c < 3; ++c) inks[i * 4 + c] = src_[i * 3 + c];
    inks[i * 4 + 3] = 255;
  }
  const std::vector<uint8_t> j = encode_jpeg(inks.data(), kW, kH, 4, 95);
  EXPECT_EQ(jpeg_info(j.data(), j.size(), "cmyk.jpg").channels, 3);
  DecodedImage rgb, roi, gray;
  decode_jpeg(j.data(), j.size(), nullptr, 8, 3, rgb, "cmyk.jpg");
  ASSERT_EQ(rgb.pixels.size(), src_.size());
  EXPECT_LT(mean_abs(rgb.pixels, src_), 3.0);
  const Rect r{17, 5, 100, 60};
  decode_jpeg(j.data(), j.size(), &r, 8, 3, roi, "cmyk.jpg");
  EXPECT_EQ(roi.pixels, cut(rgb, r));
  decode_jpeg(j.data(), j.size(), nullptr, 8, 1, gray, "cmyk.jpg");
  ASSERT_EQ(gray.pixels.size(), static_cast<size_t>(kW) * kH);
  const size_t i = 1234;
  EXPECT_NEAR(gray.pixels[i],
              0.299 * rgb.pixels[i * 3] + 0.587 * rgb.pixels[i * 3 + 1] + 0.114 * rgb.pixels[i * 3 + 2],
              1.0);
}

TEST_F(JpegTest, ColourToGrayscaleIsTheLuma) {
  DecodedImage gray;
  decode_jpeg(jpeg_.data(), jpeg_.size(), nullptr, 8, 1, gray, "g");
  ASSERT_EQ(gray.pixels.size(), static_cast<size_t>(kW) * kH);
  double err = 0;
  for (size_t i = 0; i < gray.pixels.size(); ++i)
    err += std::abs(gray.pixels[i] -
                    (0.299 * src_[i * 3] + 0.587 * src_[i * 3 + 1] + 0.114 * src_[i * 3 + 2]));
  EXPECT_LT(err / gray.pixels.size(), 3.0);
}

void expect_corrupt(const std::vector<uint8_t>& bytes, const char* what) {
  const std::string where = std::string("shard-7.rec record 3 (") + what + ")";
  for (int mode = 0; mode < 2; ++mode) {
    try {
      if (mode == 0) {
        DecodedImage out;
        decode_jpeg(bytes.data(), bytes.size(), nullptr, 8, 3, out, where);
      } else {
        jpeg_info(bytes.data(), bytes.size(), where);
        // The header may survive (truncation); the decode then must not.
        continue;
      }
      ADD_FAILURE() << what << ": decoded without error";
    } catch (const DataCorrupt& e) {
      EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not a decodable JPEG ("), std::string::npos)
          << e.what();
    }
  }
}

TEST_F(JpegTest, CorruptInputsThrowDataCorruptNamingTheSample) {
  expect_corrupt(std::vector<uint8_t>(jpeg_.begin(), jpeg_.begin() + jpeg_.size() / 2),
                 "truncated");
  std::vector<uint8_t> header = jpeg_;
  for (size_t i = 2; i < 40; ++i) header[i] ^= 0xff;  // SOI kept; the markers after it broken
  expect_corrupt(header, "bad header");
  std::vector<uint8_t> noise(5000);
  Rng rng(7);
  for (auto& b : noise) b = static_cast<uint8_t>(rng.next_u64());
  expect_corrupt(noise, "random");
  expect_corrupt({}, "empty");
  // jpeg_info must refuse what has no header at all.
  EXPECT_THROW(jpeg_info(noise.data(), noise.size(), "r"), DataCorrupt);
  EXPECT_THROW(jpeg_info(nullptr, 0, "e"), DataCorrupt);
}

TEST_F(JpegTest, RoiOutsideTheImageIsAnError) {
  const Rect r{kW - 10, 0, 11, 5};
  DecodedImage out;
  EXPECT_THROW(decode_jpeg(jpeg_.data(), jpeg_.size(), &r, 8, 3, out, "x"), Error);
}

}  // namespace
}  // namespace scaledl
