// Transformer: spec validation, the three crop modes, and the sample -> pixels step (raw u8 used
// in place, JPEG decoded whole or as a region at a reduced DCT scale; f32 samples only copied). The
// resize itself lives in resize.cc; CropMode::none keeps Batcher::fill_row's exact arithmetic (see
// none_row).
#include "data/transform.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/rng.h"
#include "data/corrupt.h"
#include "data/resize.h"

namespace scaledl {
namespace {

std::string num(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string dims(int w, int h, int c) {
  return std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(c);
}

// A sample's pixels: a raw image used in place, or a decode held in scratch.
struct Pixels {
  const uint8_t* p = nullptr;
  int w = 0, h = 0;
};

Pixels raw_pixels(const Record& r, int channels, const std::string& where) {
  if (r.channels != channels)
    throw Error("data", where + ": raw image has " + std::to_string(r.channels) +
                            " channels but the transform outputs " + std::to_string(channels) +
                            "; raw images are not converted");
  if (r.width < 1 || r.height < 1 ||
      r.image.size() != static_cast<size_t>(r.width) * r.height * r.channels)
    throw DataCorrupt(where + ": raw image holds " + std::to_string(r.image.size()) +
                      " bytes, not " + dims(r.width, r.height, r.channels));
  return {r.image.data(), r.width, r.height};
}

void check_encoding(const Record& r, const std::string& where) {
  if (r.encoding != ImageEncoding::jpeg && r.encoding != ImageEncoding::raw_u8 &&
      r.encoding != ImageEncoding::raw_f32)
    throw DataCorrupt(where + ": unknown image encoding " +
                      std::to_string(static_cast<int>(r.encoding)));
}

Pixels decode_whole(const Record& r, int channels, TransformScratch& scratch,
                    const std::string& where) {
  decode_jpeg(r.image.data(), r.image.size(), nullptr, 8, channels, scratch.decoded, where);
  return {scratch.decoded.pixels.data(), scratch.decoded.width, scratch.decoded.height};
}

// Decodes `need` (full-size pixels) of a JPEG at DCT scale s and maps the window (full-size
// continuous coordinates) into the decode: full-size x becomes x * s / 8 - floor(need.x * s / 8),
// the decode's first column being scaled column floor(need.x * s / 8) (decode_jpeg's formula).
// Interpolation clamps to the decoded region, so `need` must cover every pixel the window reads
// unless it reaches the image edge.
ResizeWindow decode_region(const Record& r, Rect need, int s, double x, double y, double w,
                           double h, int channels, TransformScratch& scratch,
                           const std::string& where) {
  decode_jpeg(r.image.data(), r.image.size(), &need, s, channels, scratch.decoded, where);
  const double f = s / 8.0;
  ResizeWindow win;
  win.x = x * f - need.x * s / 8;
  win.y = y * f - need.y * s / 8;
  win.w = w * f;
  win.h = h * f;
  win.clip_x1 = scratch.decoded.width - 1;
  win.clip_y1 = scratch.decoded.height - 1;
  return win;
}

// Batcher::fill_row's inner loop, generalized over the output type. Conv maps a pixel of the
// channel to its output value; pad is the value of the zero padding (for f32 exactly `shift`,
// not 0 * scale + shift, which differs from it when shift is -0.0).
template <bool kFlip, bool kUnit, typename T, typename Conv>
void put_row(const uint8_t* s, int64_t ss, T* d, int64_t ds, int64_t x0, int64_t x1, int64_t W,
             int64_t dx, Conv conv) {
  if constexpr (kUnit) ss = ds = 1;
  for (int64_t x = x0; x < x1; ++x) {
    const int64_t sx = kFlip ? W - 1 - x + dx : x + dx;
    d[x * ds] = conv(s[sx * ss]);
  }
}

template <typename T, typename MakeConv>
void none_row(const uint8_t* src, int64_t C, int64_t H, int64_t W, int64_t dy, int64_t dx,
              bool flip, Layout layout, T* dst, MakeConv make) {
  const int64_t cs = layout == Layout::nchw ? H * W : 1;
  const int64_t ys = layout == Layout::nchw ? W : W * C;
  const int64_t xs = layout == Layout::nchw ? 1 : C;
  // Output columns whose source column lies inside the image.
  const int64_t x0 = std::max<int64_t>(0, flip ? dx : -dx);
  const int64_t x1 = std::min<int64_t>(W, flip ? W + dx : W - dx);
  const bool unit = C == 1;
  for (int64_t c = 0; c < C; ++c) {
    const auto conv = make(c);
    const T pad = conv.pad;
    for (int64_t y = 0; y < H; ++y) {
      T* d = dst + c * cs + y * ys;
      const int64_t sy = y + dy;
      if (sy < 0 || sy >= H) {
        for (int64_t x = 0; x < W; ++x) d[x * xs] = pad;
        continue;
      }
      for (int64_t x = 0; x < x0; ++x) d[x * xs] = pad;
      for (int64_t x = x1; x < W; ++x) d[x * xs] = pad;
      const uint8_t* s = src + sy * W * C + c;
      if (flip) {
        if (unit)
          put_row<true, true>(s, C, d, xs, x0, x1, W, dx, conv);
        else
          put_row<true, false>(s, C, d, xs, x0, x1, W, dx, conv);
      } else {
        if (unit)
          put_row<false, true>(s, C, d, xs, x0, x1, W, dx, conv);
        else
          put_row<false, false>(s, C, d, xs, x0, x1, W, dx, conv);
      }
    }
  }
}

// f32 CHW values into one output row in `layout`, unchanged.
void copy_f32(const Record& r, int channels, int fixed_h, int fixed_w, Layout layout, void* dst,
              const std::string& where) {
  if (fixed_h < 1) throw Error("data", where + ": the stored image size was never set");
  const int64_t C = r.channels, H = r.height, W = r.width;
  if (r.channels != channels || r.height != fixed_h || r.width != fixed_w)
    throw Error("data", where + ": sample is " + std::to_string(C) + "x" + std::to_string(H) + "x" +
                            std::to_string(W) + " (CxHxW) but the data set's are " +
                            std::to_string(channels) + "x" + std::to_string(fixed_h) + "x" +
                            std::to_string(fixed_w) + "; f32 samples are never resized");
  if (r.image.size() != static_cast<size_t>(C * H * W) * sizeof(float))
    throw DataCorrupt(where + ": f32 sample holds " + std::to_string(r.image.size()) +
                      " bytes, not " + std::to_string(C * H * W * 4) + " (" + std::to_string(C) +
                      "x" + std::to_string(H) + "x" + std::to_string(W) + " f32)");
  if (layout == Layout::nchw) {
    std::memcpy(dst, r.image.data(), r.image.size());
    return;
  }
  const uint8_t* src = r.image.data();
  float* d = static_cast<float*>(dst);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) std::memcpy(d + i * C + c, src + (c * H * W + i) * 4, 4);
}

struct AffineConv {
  float a, b, pad;
  float operator()(uint8_t p) const { return static_cast<float>(p) * a + b; }
};
struct CopyConv {
  uint8_t pad;
  uint8_t operator()(uint8_t p) const { return p; }
};

}  // namespace

void check_f32_as_stored(const TransformSpec& s, const std::string& what) {
  std::string why;  // built only when something is wrong: this runs for every sample
  if (s.mode != CropMode::none)
    why = "the crop mode must be none (no resize; --image-size must equal the stored size)";
  else if (s.pad > 0)
    why = "--crop-pad " + std::to_string(s.pad) + " does not apply; pass --crop-pad 0";
  else if (s.flip)
    why = "--flip does not apply; pass --no-flip (data bench: --transform eval)";
  else if (!s.mean.empty() || !s.stddev.empty())
    why = "--mean/--std do not apply; normalize the array itself";
  else if (s.dtype != DType::f32)
    why = "--dtype " + std::string(dtype_name(s.dtype)) + " does not apply; use --dtype f32";
  if (why.empty()) return;
  throw Error("data", what +
                          ": f32 samples (npy) are model inputs used as stored, with no crop, "
                          "resize, flip or normalization; " +
                          why);
}

int dct_scale_for(int w, int h, int out_w, int out_h) {
  // Only the scales libjpeg-turbo has SIMD IDCTs for: 3/8 decodes about as slowly as 4/8, and
  // 5/8, 6/8, 7/8 more slowly than 8/8 (x86-64, 500x375 at quality 90: 1/8 0.16 ms, 2/8 0.22,
  // 3/8 0.30, 4/8 0.28, 5/8 0.50, 6/8 0.58, 7/8 0.78, 8/8 0.42).
  for (int s : {1, 2, 4})
    if ((w * s + 7) / 8 >= out_w && (h * s + 7) / 8 >= out_h) return s;
  return 8;
}

Transformer::Transformer(TransformSpec spec) : spec_(std::move(spec)) {
  const TransformSpec& s = spec_;
  if (s.channels != 1 && s.channels != 3)
    throw Error("data", "--channels must be 1 or 3 (got " + std::to_string(s.channels) + ")");
  if (s.mode != CropMode::none && s.out_size < 1)
    throw Error("data", "--image-size must be at least 1 (got " + std::to_string(s.out_size) + ")");
  if (!(s.scale_min > 0.f && s.scale_min <= s.scale_max && s.scale_max <= 1.f))
    throw Error("data", "--scale " + num(s.scale_min) + "," + num(s.scale_max) +
                            " must satisfy 0 < min <= max <= 1");
  if (!(s.ratio_min > 0.f && s.ratio_min <= s.ratio_max && std::isfinite(s.ratio_max)))
    throw Error("data", "--ratio " + num(s.ratio_min) + "," + num(s.ratio_max) +
                            " must satisfy 0 < min <= max");
  if (!(s.crop_fraction > 0.f && s.crop_fraction <= 1.f))
    throw Error("data", "--crop-fraction " + num(s.crop_fraction) + " must be in (0, 1]");
  if (s.pad < 0)
    throw Error("data", "--pad must not be negative (got " + std::to_string(s.pad) + ")");
  if (s.dtype != DType::f32 && s.dtype != DType::u8)
    throw Error("data",
                "transform output must be f32 or u8, not " + std::string(dtype_name(s.dtype)));
  const size_t C = static_cast<size_t>(s.channels);
  auto per_channel = [&](std::vector<float> v, float fallback, const char* flag) {
    if (v.empty()) v.assign(C, fallback);
    if (v.size() == 1) v.assign(C, v[0]);
    if (v.size() != C)
      throw Error("data", std::string(flag) + " has " + std::to_string(v.size()) +
                              " values but the output has " + std::to_string(C) +
                              " channels; give one value or one per channel");
    return v;
  };
  const std::vector<float> mean = per_channel(s.mean, 0.f, "--mean");
  const std::vector<float> sd = per_channel(s.stddev, 1.f, "--std");
  for (size_t c = 0; c < C; ++c) {
    if (!(sd[c] > 0.f) || !std::isfinite(sd[c]))
      throw Error("data", "--std value " + num(sd[c]) + " for channel " + std::to_string(c) +
                              " must be positive");
    if (!std::isfinite(mean[c]))
      throw Error("data", "--mean value for channel " + std::to_string(c) + " must be finite");
    scale_.push_back(1.f / (255.f * sd[c]));  // x = (p / 255 - mean) / std = p * scale + shift
    shift_.push_back(-mean[c] / sd[c]);
  }
}

void Transformer::set_fixed_size(int height, int width) {
  if (height < 1 || width < 1)
    throw Error("data", "image size " + std::to_string(height) + "x" + std::to_string(width) +
                            " must be positive");
  if (spec_.pad > std::min(height, width))
    throw Error("data", "--pad " + std::to_string(spec_.pad) + " must be in 0.." +
                            std::to_string(std::min(height, width)) + " for " +
                            std::to_string(height) + "x" + std::to_string(width) + " images");
  fixed_h_ = height;
  fixed_w_ = width;
}

int Transformer::out_height() const {
  return spec_.mode == CropMode::none ? fixed_h_ : spec_.out_size;
}
int Transformer::out_width() const {
  return spec_.mode == CropMode::none ? fixed_w_ : spec_.out_size;
}
int Transformer::channels() const {
  return spec_.channels;
}

size_t Transformer::row_bytes() const {
  return static_cast<size_t>(channels()) * out_height() * out_width() * dtype_size(spec_.dtype);
}

Rect Transformer::random_crop(int width, int height, uint64_t rand) const {
  // torchvision.transforms.RandomResizedCrop.get_params; Python's round is half-to-even, as is
  // nearbyint in the default rounding mode.
  const double W = width, H = height, area = W * H;
  const double lr0 = std::log(static_cast<double>(spec_.ratio_min));
  const double lr1 = std::log(static_cast<double>(spec_.ratio_max));
  Rng rng(mix64(rand));  // the flip uses rand's top bit; the crop a hash of all of it
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (spec_.scale_min + (spec_.scale_max - spec_.scale_min) *
                                                        static_cast<double>(rng.uniform()));
    const double aspect = std::exp(lr0 + (lr1 - lr0) * static_cast<double>(rng.uniform()));
    const double w = std::nearbyint(std::sqrt(target * aspect));
    const double h = std::nearbyint(std::sqrt(target / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      Rect r{0, 0, static_cast<int>(w), static_cast<int>(h)};
      r.y = static_cast<int>(rng.below(static_cast<uint64_t>(height - r.h + 1)));
      r.x = static_cast<int>(rng.below(static_cast<uint64_t>(width - r.w + 1)));
      return r;
    }
  }
  // Fallback: the whole image, narrowed to the ratio range, centred.
  double w = W, h = H;
  if (W / H < spec_.ratio_min)
    h = std::nearbyint(W / spec_.ratio_min);
  else if (W / H > spec_.ratio_max)
    w = std::nearbyint(H * spec_.ratio_max);
  Rect r{0, 0, std::clamp(static_cast<int>(w), 1, width),
         std::clamp(static_cast<int>(h), 1, height)};
  r.x = (width - r.w) / 2;
  r.y = (height - r.h) / 2;
  return r;
}

void Transformer::apply(const Record& sample, uint64_t rand, void* dst, TransformScratch& scratch,
                        const std::string& where) const {
  check_encoding(sample, where);
  if (sample.encoding == ImageEncoding::raw_f32) {
    check_f32_as_stored(spec_, where);
    copy_f32(sample, spec_.channels, fixed_h_, fixed_w_, spec_.layout, dst, where);
    return;
  }
  const bool raw = sample.encoding == ImageEncoding::raw_u8;
  const int C = spec_.channels;
  if (spec_.mode == CropMode::random_resized_crop) {
    int w = 0, h = 0;
    if (raw) {
      const Pixels px = raw_pixels(sample, C, where);
      w = px.w, h = px.h;
    } else {
      const JpegInfo info = jpeg_info(sample.image.data(), sample.image.size(), where);
      w = info.width, h = info.height;
    }
    apply_with_crop(sample, random_crop(w, h, rand), spec_.flip && (rand >> 63), dst, scratch,
                    where);
    return;
  }

  if (spec_.mode == CropMode::center_crop) {
    const int out = spec_.out_size;
    Pixels px;
    int W = 0, H = 0;
    if (raw) {
      px = raw_pixels(sample, C, where);
      W = px.w, H = px.h;
    } else {
      const JpegInfo info = jpeg_info(sample.image.data(), sample.image.size(), where);
      W = info.width, H = info.height;
    }
    // torchvision Resize(short side S) then CenterCrop(out): the crop of the resized image is a
    // window of the source, with interpolation clamped to the source's edges.
    const long long S = std::llround(out / static_cast<double>(spec_.crop_fraction));
    const long long nw = W <= H ? S : static_cast<long long>(static_cast<double>(S * W) / H);
    const long long nh = W <= H ? static_cast<long long>(static_cast<double>(S * H) / W) : S;
    const double top = std::nearbyint((nh - out) / 2.0), left = std::nearbyint((nw - out) / 2.0);
    const double fx = static_cast<double>(W) / nw, fy = static_cast<double>(H) / nh;
    const double x = left * fx, y = top * fy, w = out * fx, h = out * fy;
    ResizeWindow win;
    if (!raw && spec_.roi_decode) {
      const int s = dct_scale_for(W, H, static_cast<int>(nw), static_cast<int>(nh));
      // A margin of two scaled pixels and one more: interpolation never reads past it, so the
      // clamp to the decoded region only acts at the image's own edges.
      const int m = (16 + s - 1) / s + 1;
      const int x0 = std::max(0, static_cast<int>(std::floor(x)) - m);
      const int y0 = std::max(0, static_cast<int>(std::floor(y)) - m);
      const int x1 = std::min(W, static_cast<int>(std::ceil(x + w)) + m);
      const int y1 = std::min(H, static_cast<int>(std::ceil(y + h)) + m);
      win = decode_region(sample, {x0, y0, x1 - x0, y1 - y0}, s, x, y, w, h, C, scratch, where);
      px = {scratch.decoded.pixels.data(), scratch.decoded.width, scratch.decoded.height};
    } else {
      if (!raw) px = decode_whole(sample, C, scratch, where);
      win.x = x, win.y = y, win.w = w, win.h = h;
      win.clip_x1 = px.w - 1;
      win.clip_y1 = px.h - 1;
    }
    ResizeTarget t{dst, out, out, spec_.layout, spec_.dtype, false, scale_.data(), shift_.data()};
    resize_window(px.p, px.w, C, win, t, scratch.index, scratch.row);
    return;
  }

  // CropMode::none: Batcher::fill_row, bit for bit.
  if (fixed_h_ < 1) throw Error("data", where + ": the stored image size was never set");
  const Pixels px = raw ? raw_pixels(sample, C, where) : decode_whole(sample, C, scratch, where);
  if (px.w != fixed_w_ || px.h != fixed_h_)
    throw Error("data", where + ": image is " + dims(px.w, px.h, C) +
                            " but the data set's images are " + dims(fixed_w_, fixed_h_, C) +
                            "; without a crop mode all must match");
  const int64_t pad = spec_.pad;
  int64_t dy = 0, dx = 0;
  bool flip = false;
  if (pad > 0 || spec_.flip) {
    const uint64_t span = static_cast<uint64_t>(2 * pad + 1);
    dy = static_cast<int64_t>((rand & 0xffffff) % span) - pad;
    dx = static_cast<int64_t>(((rand >> 24) & 0xffffff) % span) - pad;
    flip = spec_.flip && (rand >> 63);
  }
  if (spec_.dtype == DType::f32) {
    none_row(px.p, C, px.h, px.w, dy, dx, flip, spec_.layout, static_cast<float*>(dst),
             [&](int64_t c) {
               const float a = scale_[static_cast<size_t>(c)], b = shift_[static_cast<size_t>(c)];
               return AffineConv{a, b, b};
             });
  } else {
    none_row(px.p, C, px.h, px.w, dy, dx, flip, spec_.layout, static_cast<uint8_t*>(dst),
             [](int64_t) { return CopyConv{0}; });
  }
}

void Transformer::apply_with_crop(const Record& sample, Rect crop, bool flip, void* dst,
                                  TransformScratch& scratch, const std::string& where) const {
  SDL_ASSERT(spec_.mode == CropMode::random_resized_crop,
             "apply_with_crop needs CropMode::random_resized_crop");
  check_encoding(sample, where);
  if (sample.encoding == ImageEncoding::raw_f32) check_f32_as_stored(spec_, where);
  const int C = spec_.channels, out = spec_.out_size;
  ResizeWindow win;
  Pixels px;
  if (sample.encoding == ImageEncoding::jpeg && spec_.roi_decode) {
    // Decode just the crop, at the smallest DCT scale that keeps >= out pixels each way;
    // torchvision crops, then resizes, so the interpolation clamps to the crop's edges.
    const int s = dct_scale_for(crop.w, crop.h, out, out);
    win = decode_region(sample, crop, s, crop.x, crop.y, crop.w, crop.h, C, scratch, where);
    px = {scratch.decoded.pixels.data(), scratch.decoded.width, scratch.decoded.height};
  } else {
    px = sample.encoding == ImageEncoding::raw_u8 ? raw_pixels(sample, C, where)
                                                  : decode_whole(sample, C, scratch, where);
    if (crop.x < 0 || crop.y < 0 || crop.w < 1 || crop.h < 1 || crop.x + crop.w > px.w ||
        crop.y + crop.h > px.h)
      throw Error("data", where + ": crop lies outside the " + std::to_string(px.w) + "x" +
                              std::to_string(px.h) + " image");
    win.x = crop.x, win.y = crop.y, win.w = crop.w, win.h = crop.h;
    win.clip_x0 = crop.x, win.clip_y0 = crop.y;
    win.clip_x1 = crop.x + crop.w - 1, win.clip_y1 = crop.y + crop.h - 1;
  }
  ResizeTarget t{dst, out, out, spec_.layout, spec_.dtype, flip, scale_.data(), shift_.data()};
  resize_window(px.p, px.w, C, win, t, scratch.index, scratch.row);
}

}  // namespace scaledl
