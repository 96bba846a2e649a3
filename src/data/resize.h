// Internal to data/: the fused bilinear resize behind resize_bilinear and Transformer. One pass
// from u8 HWC pixels to a finished batch row: resize, horizontal flip, per-channel affine
// normalization and NCHW/NHWC layout, so the row is written once.
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace scaledl {

// The part of the source to resize, in continuous pixel coordinates (pixel i covers [i, i + 1)),
// so a window may start between pixels (a crop mapped into a DCT-scaled decode). Sample
// positions are clamped to the inclusive index range clip_*: the edges of the image PyTorch would
// be given (the crop for RandomResizedCrop, the whole image for Resize + CenterCrop).
struct ResizeWindow {
  double x = 0, y = 0, w = 0, h = 0;
  int clip_x0 = 0, clip_y0 = 0, clip_x1 = 0, clip_y1 = 0;
};

// Where and how to write: width x height x channels in `layout`; f32 rows get
// pixel * scale[c] + shift[c], u8 rows the interpolated pixel rounded to nearest.
struct ResizeTarget {
  void* dst = nullptr;
  int width = 0, height = 0;
  Layout layout = Layout::nhwc;
  DType dtype = DType::f32;
  bool flip = false;
  const float* scale = nullptr;  // f32 only: `channels` values each
  const float* shift = nullptr;
};

// Bilinear (half-pixel centres, PyTorch align_corners=False, no antialias) resize of `win` of
// src (row stride sw * c) into `out`. index and buf are reusable scratch.
void resize_window(const uint8_t* src, int sw, int c, const ResizeWindow& win,
                   const ResizeTarget& out, std::vector<int32_t>& index, std::vector<float>& buf);

}  // namespace scaledl
