// Choosing a source's transform.
#include "data/pipeline.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/corrupt.h"

namespace scaledl {

namespace {
const std::vector<float> kImageNetMean = {0.485f, 0.456f, 0.406f};
const std::vector<float> kImageNetStd = {0.229f, 0.224f, 0.225f};

// The first readable sample (a corrupt one is the loader's to report or skip).
Record first_sample(const SampleSource& src) {
  if (src.size() == 0) throw Error("data", src.describe() + " holds no samples");
  Record r;
  std::vector<uint8_t> scratch;
  const int64_t tries = std::min<int64_t>(src.size(), 64);
  for (int64_t i = 0;; ++i) {
    try {
      src.read(i, r, scratch);
      return r;
    } catch (const DataCorrupt&) {
      if (i + 1 == tries) throw;
    }
  }
}
}  // namespace

void channel_stats(const SampleSource& src, std::vector<float>& mean, std::vector<float>& stddev) {
  const int64_t n = std::min<int64_t>(src.size(), 10000);
  Record r;
  std::vector<uint8_t> scratch;
  int64_t c = 0;
  std::vector<double> s, s2;
  double count = 0;
  for (int64_t i = 0; i < n; ++i) {
    try {
      src.read(i, r, scratch);
    } catch (const DataCorrupt&) {
      continue;  // left out of the statistics; the loader reports it (or skips it) when read
    }
    if (r.encoding != ImageEncoding::raw_u8)
      throw Error("data", src.describe() + " sample " + std::to_string(i) +
                              " is not raw pixels; give --mean and --std");
    if (s.empty()) c = r.channels, s.assign(c, 0), s2.assign(c, 0);
    if (r.channels != c) throw Error("data", src.describe() + ": samples differ in channels");
    const size_t per = r.image.size();
    for (size_t k = 0; k < per; ++k) {
      const double v = r.image[k] / 255.0;
      s[k % c] += v;
      s2[k % c] += v * v;
    }
    count += static_cast<double>(per / c);
  }
  mean.assign(c, 0.f);
  stddev.assign(c, 1.f);
  for (int64_t k = 0; k < c && count > 0; ++k) {
    const double m = s[k] / count;
    mean[k] = static_cast<float>(m);
    stddev[k] = static_cast<float>(std::sqrt(std::max(1e-12, s2[k] / count - m * m)));
  }
}

namespace {
// f32 model inputs (npy): copied as stored; any option that would change them is an error, and
// the mean/std (a checkpoint's statistics) are not applied: the array holds normalized inputs.
Transformer as_stored_transform(const SampleSource& src, const Record& first, bool train,
                                const PipelineOptions& opt) {
  if (opt.image_size > 0 && (opt.image_size != first.height || opt.image_size != first.width))
    throw Error("data", src.describe() + " holds " + std::to_string(first.height) + "x" +
                            std::to_string(first.width) + " samples but " +
                            std::to_string(opt.image_size) + "x" + std::to_string(opt.image_size) +
                            " inputs are wanted (--image-size, or the checkpoint's size); f32 "
                            "samples are never resized: give --image-size " +
                            std::to_string(first.height) + " or an array of that size");
  TransformSpec spec;
  spec.mode = CropMode::none;
  spec.layout = opt.layout;
  spec.dtype = opt.dtype;
  spec.flip = train && opt.flip;
  spec.pad = train ? opt.pad : 0;
  spec.channels = first.channels;
  check_f32_as_stored(spec, src.describe());
  Transformer t(spec);
  t.set_fixed_size(first.height, first.width);
  return t;
}
}  // namespace

Transformer make_transform(const SampleSource& src, bool train, const PipelineOptions& opt) {
  const Record first = first_sample(src);
  if (first.encoding == ImageEncoding::raw_f32) return as_stored_transform(src, first, train, opt);
  TransformSpec spec;
  spec.layout = opt.layout;
  spec.dtype = opt.dtype;
  spec.roi_decode = opt.roi_decode;
  spec.flip = train && opt.flip;
  spec.mean = opt.mean;
  spec.stddev = opt.stddev;
  if (first.encoding == ImageEncoding::raw_u8) {
    spec.mode = CropMode::none;
    spec.pad = train ? opt.pad : 0;
    spec.channels = first.channels;
    if (spec.mean.empty() && spec.stddev.empty() && opt.dtype == DType::f32)
      channel_stats(src, spec.mean, spec.stddev);
    Transformer t(spec);
    t.set_fixed_size(first.height, first.width);
    return t;
  }
  spec.mode = train ? CropMode::random_resized_crop : CropMode::center_crop;
  spec.out_size = static_cast<int>(opt.image_size > 0 ? opt.image_size : 224);
  spec.channels = 3;
  if (spec.mean.empty()) spec.mean = kImageNetMean;
  if (spec.stddev.empty()) spec.stddev = kImageNetStd;
  return Transformer(spec);
}

}  // namespace scaledl
