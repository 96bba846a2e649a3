// Per-sample transforms: from an encoded sample (JPEG bytes or raw u8 pixels) to one batch row,
// cropped, resized, flipped and normalized, in NCHW or NHWC, as f32 or u8. f32 samples (raw_f32,
// npy sources) are model inputs: only copied into the layout, with CropMode::none. Every random
// choice comes from the 64-bit `rand` the caller passes (a hash of seed, epoch and sample), so a
// sample's augmentation does not depend on which thread decodes it or in what order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "data/jpeg.h"
#include "data/record.h"

namespace scaledl {

enum class CropMode {
  none,                 // the image as stored (all samples must share one size), after an
                        // optional random crop of the zero-padded image (`pad`)
  random_resized_crop,  // torchvision RandomResizedCrop(out_size, scale, ratio)
  center_crop,          // eval: resize the shorter side to out_size / crop_fraction, then
                        // take the centre out_size x out_size
};

struct TransformSpec {
  CropMode mode = CropMode::none;
  int out_size = 224;  // output height = width (random_resized_crop, center_crop)
  float scale_min = 0.08f, scale_max = 1.f;            // crop area / image area
  float ratio_min = 3.f / 4.f, ratio_max = 4.f / 3.f;  // crop width / height
  float crop_fraction = 0.875f;                        // center_crop: 224 of 256
  int pad = 0;                                         // none: random crop after zero padding
  bool flip = false;                                   // random horizontal flip (p = 0.5)
  std::vector<float> mean, stddev;  // per channel, applied to pixel/255 (f32 output only);
                                    // empty: mean 0, std 1
  Layout layout = Layout::nhwc;
  DType dtype = DType::f32;  // f32 (normalized) or u8 (pixels as decoded)
  bool roi_decode = true;    // JPEG: decode only the crop, at the smallest DCT scale that still
                             // gives at least out_size pixels each way (see dct_scale_for)
  int channels = 3;          // output channels (1 or 3); JPEGs are converted to it
};

// Per-thread reusable buffers.
struct TransformScratch {
  DecodedImage decoded;
  std::vector<float> row;
  std::vector<int32_t> index;  // the resize's column table
};

class Transformer {
 public:
  // Validates the spec (throws Error naming the flag: --image-size, --scale, --ratio, --mean,
  // --std, ...). For CropMode::none, out_h/out_w/channels of the stored images must be given via
  // set_fixed_size() before use.
  explicit Transformer(TransformSpec spec);
  void set_fixed_size(int height, int width);  // CropMode::none: the stored size

  int out_height() const;
  int out_width() const;
  int channels() const;
  // Bytes of one output row (C x H x W elements of the output dtype).
  size_t row_bytes() const;
  const TransformSpec& spec() const { return spec_; }

  // Decodes and transforms one sample into `dst` (row_bytes() bytes, in spec().layout).
  // `where` names the sample in errors (DataCorrupt for undecodable images, Error for a raw image
  // of the wrong size).
  void apply(const Record& sample, uint64_t rand, void* dst, TransformScratch& scratch,
             const std::string& where) const;

  // The crop random_resized_crop picks for a width x height image (for tests and ROI checks).
  Rect random_crop(int width, int height, uint64_t rand) const;

  // random_resized_crop with the crop and flip given instead of drawn (apply uses it; tests fix
  // the crop through it). `crop` is in the image's full-size pixels and must lie inside it.
  void apply_with_crop(const Record& sample, Rect crop, bool flip, void* dst,
                       TransformScratch& scratch, const std::string& where) const;

 private:
  TransformSpec spec_;
  int fixed_h_ = 0, fixed_w_ = 0;
  std::vector<float> scale_, shift_;  // per channel: x = pixel * scale + shift
};

// Throws Error naming the flag when `spec` would change f32 samples (npy model inputs, used as
// stored): a crop mode other than none, --crop-pad, --flip, --mean/--std, or a u8 output. `what`
// names the source or sample.
void check_f32_as_stored(const TransformSpec& spec, const std::string& what);

// The DCT scale (scale_num of 8) at which a w x h region still decodes to at least out_w x out_h
// pixels: the smallest s in {1, 2, 4, 8} with ceil(w * s / 8) >= out_w and ceil(h * s / 8) >=
// out_h. The scales in between decode no faster than the next power of two (no SIMD IDCT in
// libjpeg-turbo; 5/8..7/8 are slower than 8/8), so they are never chosen.
int dct_scale_for(int w, int h, int out_w, int out_h);

// Bilinear resize of u8 HWC pixels (half-pixel centres, as PyTorch's interpolate with
// align_corners=False and no antialias) of the region `src_roi` of src into dst (dw x dh).
void resize_bilinear(const uint8_t* src, int sw, int sh, int c, Rect src_roi, uint8_t* dst, int dw,
                     int dh);

}  // namespace scaledl
