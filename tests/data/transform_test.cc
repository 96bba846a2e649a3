// Transformer: CropMode::none byte-identical to Batcher, RandomResizedCrop's crop distribution, ROI
// vs full decode, flips, center crop against a hand-built resize + crop, and spec validation.
#include "data/transform.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "data/corrupt.h"
#include "data/test_images.h"
#include "reference/batcher.h"

namespace scaledl {
namespace {

using testing::smooth_image;

Record raw_record(const std::vector<uint8_t>& px, int w, int h, int c) {
  Record r;
  r.key = "raw";
  r.labels = {0};
  r.encoding = ImageEncoding::raw_u8;
  r.width = w, r.height = h, r.channels = c;
  r.image = px;
  return r;
}

Record jpeg_record(const std::vector<uint8_t>& px, int w, int h, int c) {
  Record r;
  r.key = "jpeg";
  r.labels = {0};
  r.encoding = ImageEncoding::jpeg;
  r.image = encode_jpeg(px.data(), w, h, c, 95);
  return r;
}

TransformSpec rrc_spec(int out) {
  TransformSpec s;
  s.mode = CropMode::random_resized_crop;
  s.out_size = out;
  s.mean = {0.485f, 0.456f, 0.406f};
  s.stddev = {0.229f, 0.224f, 0.225f};
  return s;
}

std::vector<float> run_f32(const Transformer& t, const Record& r, uint64_t rand) {
  std::vector<float> out(t.row_bytes() / sizeof(float));
  TransformScratch scratch;
  t.apply(r, rand, out.data(), scratch, "sample 0");
  return out;
}

double mean_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(a[i] - b[i]);
  return s / static_cast<double>(a.size());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// --- CropMode::none against Batcher::fill_row ----------------------------------------------------

TEST(Transformer, NoneModeIsByteIdenticalToBatcher) {
  const int64_t N = 5, H = 7, W = 9;
  const uint64_t seed = 1234;
  const int64_t epoch = 3;
  for (int C : {1, 3})
    for (int pad : {0, 2})
      for (bool flip : {false, true})
        for (Layout layout : {Layout::nchw, Layout::nhwc})
          for (bool norm : {false, true}) {
            ImageSet set;
            set.images = Tensor::zeros({N, H, W, C}, DType::u8);
            Rng rng(static_cast<uint64_t>(C * 100 + pad));
            uint8_t* p = set.images.data<uint8_t>();
            for (int64_t i = 0; i < N * H * W * C; ++i) p[i] = static_cast<uint8_t>(rng.next_u64());
            for (int64_t i = 0; i < N; ++i) set.labels.push_back(0);
            set.classes = 1;
            Augment aug;
            aug.pad = pad;
            aug.flip = flip;
            TransformSpec spec;
            spec.pad = pad;
            spec.flip = flip;
            spec.layout = layout;
            spec.channels = C;
            if (norm) {
              aug.mean = spec.mean = std::vector<float>(static_cast<size_t>(C), 0.3f);
              aug.stddev = spec.stddev = std::vector<float>(static_cast<size_t>(C), 0.2f);
              if (C == 3) aug.mean[1] = spec.mean[1] = 0.6f, aug.stddev[2] = spec.stddev[2] = 0.7f;
            }
            Batcher batcher(set, N, /*shuffle=*/false, false, aug, layout, seed);
            Tensor x = Tensor::empty(batcher.x_shape(), DType::f32, Device::cpu(), layout);
            Tensor labels = Tensor::empty({N}, DType::s32);
            batcher.fill(epoch, 0, x, labels);
            Transformer t(spec);
            t.set_fixed_size(static_cast<int>(H), static_cast<int>(W));
            ASSERT_EQ(t.row_bytes(), static_cast<size_t>(C * H * W * 4));
            TransformScratch scratch;
            std::vector<uint8_t> row(t.row_bytes());
            for (int64_t s = 0; s < N; ++s) {
              const std::vector<uint8_t> px(p + s * H * W * C, p + (s + 1) * H * W * C);
              const uint64_t rand = hash_words(seed, epoch, static_cast<uint64_t>(s), 0x617567);
              t.apply(raw_record(px, W, H, C), rand, row.data(), scratch, "s");
              EXPECT_EQ(std::memcmp(row.data(), x.data<float>() + s * C * H * W, row.size()), 0)
                  << "C=" << C << " pad=" << pad << " flip=" << flip
                  << " nchw=" << (layout == Layout::nchw) << " norm=" << norm << " sample " << s;
            }
          }
}

TEST(Transformer, NoneModeU8WithoutAugmentationIsThePixels) {
  const std::vector<uint8_t> px = smooth_image(6, 4, 3);
  TransformSpec spec;
  spec.dtype = DType::u8;
  Transformer t(spec);
  t.set_fixed_size(4, 6);
  std::vector<uint8_t> out(t.row_bytes());
  TransformScratch scratch;
  t.apply(raw_record(px, 6, 4, 3), 0xdeadbeefcafef00dull, out.data(), scratch, "s");
  EXPECT_EQ(out, px);
  spec.layout = Layout::nchw;
  Transformer planar(spec);
  planar.set_fixed_size(4, 6);
  planar.apply(raw_record(px, 6, 4, 3), 7, out.data(), scratch, "s");
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 24; ++i) EXPECT_EQ(out[c * 24 + i], px[i * 3 + c]);
}

TEST(Transformer, NoneModeRefusesWrongSizesNamingTheSample) {
  TransformSpec spec;
  Transformer t(spec);
  t.set_fixed_size(4, 6);
  std::vector<float> out(72);
  TransformScratch scratch;
  const std::vector<uint8_t> px = smooth_image(5, 4, 3);
  EXPECT_NE(error_of([&] {
              t.apply(raw_record(px, 5, 4, 3), 0, out.data(), scratch, "rec 9");
            }).find("rec 9"),
            std::string::npos);
  const std::vector<uint8_t> gray = smooth_image(6, 4, 1);
  EXPECT_NE(error_of([&] {
              t.apply(raw_record(gray, 6, 4, 1), 0, out.data(), scratch, "rec 8");
            }).find("rec 8: raw image has 1 channels"),
            std::string::npos);
  // A JPEG in mode none: decoded whole, and must have the stored size.
  const std::vector<uint8_t> six = smooth_image(6, 4, 3);
  const Record j = jpeg_record(six, 6, 4, 3);
  t.apply(j, 0, out.data(), scratch, "j");
  DecodedImage d;
  decode_jpeg(j.image.data(), j.image.size(), nullptr, 8, 3, d, "j");
  for (size_t i = 0; i < out.size(); ++i) EXPECT_FLOAT_EQ(out[i], d.pixels[i] / 255.f);
  Transformer t2(spec);
  t2.set_fixed_size(5, 6);
  EXPECT_NE(error_of([&] { t2.apply(j, 0, out.data(), scratch, "jpeg 3"); }).find("jpeg 3"),
            std::string::npos);
}

// --- random_resized_crop -----------------------------------------------------------------------

TEST(Transformer, RandomCropsFollowTheScaleAndRatioRanges) {
  TransformSpec spec = rrc_spec(32);
  spec.scale_min = 0.2f;
  spec.scale_max = 0.9f;
  Transformer t(spec);
  const int sizes[][2] = {{500, 375}, {100, 400}, {37, 23}, {1000, 40}};
  for (const auto& sz : sizes) {
    const int W = sz[0], H = sz[1];
    // The fallback: the whole image narrowed to the ratio range, centred.
    Rect fb{0, 0, W, H};
    if (double(W) / H < spec.ratio_min) fb.h = int(std::nearbyint(W / spec.ratio_min));
    if (double(W) / H > spec.ratio_max) fb.w = int(std::nearbyint(H * spec.ratio_max));
    fb.x = (W - fb.w) / 2, fb.y = (H - fb.h) / 2;
    int fallbacks = 0;
    std::set<int> xs, ys;
    for (uint64_t i = 0; i < 2000; ++i) {
      const Rect r = t.random_crop(W, H, hash_words(i, 99));
      ASSERT_TRUE(r.x >= 0 && r.y >= 0 && r.w >= 1 && r.h >= 1 && r.x + r.w <= W && r.y + r.h <= H);
      xs.insert(r.x), ys.insert(r.y);
      // w and h are rounded: allow half a pixel each way.
      const double amin = (r.w - 0.5) * (r.h - 0.5) / (double(W) * H);
      const double amax = (r.w + 0.5) * (r.h + 0.5) / (double(W) * H);
      const bool in_range = amax >= spec.scale_min && amin <= spec.scale_max &&
                            (r.w + 0.5) / (r.h - 0.5) >= spec.ratio_min &&
                            (r.w - 0.5) / (r.h + 0.5) <= spec.ratio_max;
      if (!in_range) {
        ++fallbacks;
        EXPECT_TRUE(r.x == fb.x && r.y == fb.y && r.w == fb.w && r.h == fb.h)
            << W << "x" << H << ": " << r.x << "," << r.y << " " << r.w << "x" << r.h;
      }
    }
    if (W == 500) {
      EXPECT_EQ(fallbacks, 0);
      EXPECT_GT(xs.size(), 50u);  // positions spread over the image
      EXPECT_GT(ys.size(), 50u);
    }
    if (W == 1000) {
      EXPECT_GT(fallbacks, 1000);  // 25:1 can rarely hold a 4:3 crop
    }
  }
}

TEST(Transformer, SameRandSameOutputAndFlipMirrorsExactly) {
  const int W = 120, H = 90;
  const std::vector<uint8_t> px = smooth_image(W, H, 3);
  for (bool jpeg : {false, true})
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      TransformSpec spec = rrc_spec(40);
      spec.layout = layout;
      spec.flip = true;
      Transformer t(spec);
      const Record r = jpeg ? jpeg_record(px, W, H, 3) : raw_record(px, W, H, 3);
      EXPECT_EQ(run_f32(t, r, 42), run_f32(t, r, 42));
      EXPECT_NE(run_f32(t, r, 42), run_f32(t, r, 43));
      const Rect crop{7, 11, 61, 50};
      const size_t n = 3 * 40 * 40;
      std::vector<float> a(n), b(n);
      TransformScratch scratch;
      t.apply_with_crop(r, crop, false, a.data(), scratch, "s");
      t.apply_with_crop(r, crop, true, b.data(), scratch, "s");
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 40; ++y)
          for (int x = 0; x < 40; ++x) {
            const auto at = [&](int xx) {
              return layout == Layout::nchw ? (c * 40 + y) * 40 + xx : (y * 40 + xx) * 3 + c;
            };
            ASSERT_EQ(b[at(x)], a[at(39 - x)]) << jpeg << " " << c << "," << y << "," << x;
          }
      // apply() is apply_with_crop with the drawn crop and rand's top bit as the flip.
      for (uint64_t rand : {5ull, 5ull | (1ull << 63)}) {
        const Rect rc = t.random_crop(W, H, rand);
        t.apply_with_crop(r, rc, (rand >> 63) != 0, a.data(), scratch, "s");
        EXPECT_EQ(run_f32(t, r, rand), a);
      }
    }
}

TEST(Transformer, RawCropResizeIsResizeBilinearOfTheCrop) {
  const int W = 77, H = 51;
  const std::vector<uint8_t> px = smooth_image(W, H, 3);
  TransformSpec spec = rrc_spec(33);
  spec.dtype = DType::u8;
  Transformer t(spec);
  const Rect crop{5, 9, 40, 31};
  std::vector<uint8_t> got(t.row_bytes()), want(t.row_bytes());
  TransformScratch scratch;
  t.apply_with_crop(raw_record(px, W, H, 3), crop, false, got.data(), scratch, "s");
  resize_bilinear(px.data(), W, H, 3, crop, want.data(), 33, 33);
  EXPECT_EQ(got, want);
}

TEST(Transformer, RoiDecodeAgreesWithFullDecode) {
  const int W = 500, H = 375;
  const Record r = jpeg_record(smooth_image(W, H, 3), W, H, 3);
  int at8 = 0, reduced = 0;
  double worst_reduced = 0;
  // 224 outputs need scale 8 on a 500x375 image; 100 lets crops of 200+ pixels decode at 4/8
  // and of 400+ at 2/8.
  for (int out : {224, 100}) {
    TransformSpec spec = rrc_spec(out);
    spec.flip = true;
    TransformSpec full_spec = spec;
    full_spec.roi_decode = false;
    const Transformer roi(spec), full(full_spec);
    for (uint64_t i = 0; i < 40; ++i) {
      const uint64_t rand = hash_words(i, 7);
      const Rect c = roi.random_crop(W, H, rand);
      const int s = dct_scale_for(c.w, c.h, out, out);
      const double d = mean_abs_diff(run_f32(roi, r, rand), run_f32(full, r, rand));
      if (s == 8) {
        ++at8;
        EXPECT_LT(d, 0.05) << c.w << "x" << c.h;
        EXPECT_LT(d, 1e-5) << "the ROI decode at scale 8 is pixel-identical";
      } else {
        ++reduced;
        worst_reduced = std::max(worst_reduced, d);
        // A DCT-scaled decode filters (it averages 8/s pixels) where the full-size bilinear
        // resize aliases: a looser bound, a tenth of a standard deviation (under 0.01 seen here).
        EXPECT_LT(d, 0.1) << c.w << "x" << c.h << " scale " << s;
      }
    }
  }
  EXPECT_GT(at8, 3);
  EXPECT_GT(reduced, 3);
  RecordProperty("worst_reduced_scale_diff", std::to_string(worst_reduced));
}

TEST(Transformer, GrayscaleJpegBecomesThreeEqualChannels) {
  const Record r = jpeg_record(smooth_image(64, 48, 1), 64, 48, 1);
  TransformSpec spec = rrc_spec(20);
  spec.mean.clear(), spec.stddev.clear();
  spec.layout = Layout::nchw;
  const std::vector<float> out = run_f32(Transformer(spec), r, 3);
  for (int i = 0; i < 400; ++i) {
    EXPECT_EQ(out[i], out[400 + i]);
    EXPECT_EQ(out[i], out[800 + i]);
  }
}

TEST(Transformer, CorruptJpegThrowsDataCorruptNamingTheSample) {
  Record r = jpeg_record(smooth_image(64, 48, 3), 64, 48, 3);
  r.image.resize(r.image.size() / 2);
  for (CropMode mode : {CropMode::random_resized_crop, CropMode::center_crop}) {
    TransformSpec spec = rrc_spec(16);
    spec.mode = mode;
    Transformer t(spec);
    std::vector<float> out(t.row_bytes() / 4);
    TransformScratch scratch;
    try {
      // A crop of the lower half: the truncation must be seen whatever the crop.
      if (mode == CropMode::random_resized_crop)
        t.apply_with_crop(r, {0, 30, 64, 18}, false, out.data(), scratch, "shard 2 record 5");
      else
        t.apply(r, 1, out.data(), scratch, "shard 2 record 5");
      ADD_FAILURE() << "decoded a truncated JPEG";
    } catch (const DataCorrupt& e) {
      EXPECT_NE(std::string(e.what()).find("shard 2 record 5"), std::string::npos);
    }
  }
}

// --- center_crop -------------------------------------------------------------------------------

TEST(Transformer, CenterCropMatchesAHandBuiltResizeAndCrop) {
  const int W = 50, H = 40, C = 3, out = 24;
  const std::vector<uint8_t> px = smooth_image(W, H, C);
  TransformSpec spec = rrc_spec(out);
  spec.mode = CropMode::center_crop;
  spec.layout = Layout::nchw;
  const std::vector<float> got = run_f32(Transformer(spec), raw_record(px, W, H, C), 0);
  // torchvision: Resize(round(24 / 0.875) = 27): 50x40 -> 33x27 (int(27 * 50 / 40)); then
  // CenterCrop(24): top = round(1.5) = 2, left = round(4.5) = 4 (Python rounds half to even).
  const int nw = 33, nh = 27, top = 2, left = 4;
  auto src_pos = [](int i, int in, int outn, int& i0, int& i1, double& l) {
    double s = std::max(0.0, (i + 0.5) * in / outn - 0.5);
    i0 = std::min(static_cast<int>(s), in - 1);
    i1 = std::min(i0 + 1, in - 1);
    l = s - i0;
  };
  double worst = 0;
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < out; ++y)
      for (int x = 0; x < out; ++x) {
        int y0, y1, x0, x1;
        double ly, lx;
        src_pos(top + y, H, nh, y0, y1, ly);
        src_pos(left + x, W, nw, x0, x1, lx);
        auto P = [&](int yy, int xx) { return double(px[(yy * W + xx) * C + c]); };
        const double v = (1 - ly) * ((1 - lx) * P(y0, x0) + lx * P(y0, x1)) +
                         ly * ((1 - lx) * P(y1, x0) + lx * P(y1, x1));
        const double want = (v / 255.0 - spec.mean[c]) / spec.stddev[c];
        worst = std::max(worst, std::abs(want - got[(c * out + y) * out + x]));
      }
  EXPECT_LT(worst, 1e-4);
}

TEST(Transformer, CenterCropRoiDecodeAgreesWithFullDecode) {
  for (const auto& sz : std::vector<std::pair<int, int>>{{1000, 750}, {500, 375}, {180, 333}}) {
    const auto [W, H] = sz;
    const Record r = jpeg_record(smooth_image(W, H, 3), W, H, 3);
    TransformSpec spec = rrc_spec(224);
    spec.mode = CropMode::center_crop;
    TransformSpec full_spec = spec;
    full_spec.roi_decode = false;
    const double d =
        mean_abs_diff(run_f32(Transformer(spec), r, 0), run_f32(Transformer(full_spec), r, 0));
    // 1000x750 (resized to 341x256) decodes at scale 4/8; the smaller images need scale 8 and
    // must agree exactly.
    ASSERT_EQ(dct_scale_for(W, H, W * 256 / std::min(W, H), H * 256 / std::min(W, H)),
              W == 1000 ? 4 : 8);
    if (W == 1000)
      EXPECT_LT(d, 0.1);
    else
      EXPECT_LT(d, 1e-6) << W << "x" << H;
  }
}

// --- spec validation ---------------------------------------------------------------------------

TEST(Transformer, BadSpecsNameTheFlag) {
  auto msg = [](auto edit) {
    TransformSpec s = rrc_spec(224);
    edit(s);
    return error_of([&] { Transformer t(s); });
  };
  EXPECT_NE(msg([](TransformSpec& s) { s.out_size = 0; }).find("--image-size"), std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) { s.scale_min = 0; }).find("--scale"), std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) { s.scale_max = 1.5f; }).find("--scale"), std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) { s.scale_min = 0.9f, s.scale_max = 0.5f; }).find("--scale"),
            std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) { s.ratio_min = 0; }).find("--ratio"), std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) { s.ratio_min = 2, s.ratio_max = 1; }).find("--ratio"),
            std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) { s.mean = {0.1f, 0.2f}; }).find("--mean"), std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) {
              s.stddev = {0.1f, 0.f, 0.2f};
            }).find("--std"),
            std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) { s.crop_fraction = 0; }).find("--crop-fraction"),
            std::string::npos);
  EXPECT_NE(msg([](TransformSpec& s) { s.crop_fraction = 1.1f; }).find("--crop-fraction"),
            std::string::npos);
  EXPECT_EQ(msg([](TransformSpec& s) { s.mean = {0.5f}, s.stddev = {0.5f}; }), "(no error)");
  TransformSpec none;
  none.pad = 5;
  Transformer t(none);
  EXPECT_NE(error_of([&] { t.set_fixed_size(4, 8); }).find("--pad"), std::string::npos);
}

}  // namespace
}  // namespace scaledl
