// The fused bilinear resize: an x table (source offsets and weight per output column, already
// mirrored for a flip), horizontal interpolation of each needed source row once (a two-row cache:
// consecutive output rows share source rows), then one vertical blend per output row that also
// normalizes and writes in the output layout. No divisions or branches in the per-pixel loops.
#include "data/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "data/transform.h"

namespace scaledl {
namespace {

struct Tap {
  int i0, i1;
  float w;  // weight of i1
};

// Source taps of output position i: s = start + (i + 0.5) * step - 0.5 (half-pixel centres),
// clamped to [lo, hi] as PyTorch clamps to the edges of its input.
Tap tap(double start, double step, int i, int lo, int hi) {
  const double s = start + (i + 0.5) * step - 0.5;
  if (!(s > lo)) return {lo, lo, 0.f};
  if (s >= hi) return {hi, hi, 0.f};
  const int i0 = static_cast<int>(s);  // s > lo >= 0: truncation is floor
  return {i0, i0 + 1, static_cast<float>(s - i0)};
}

// Output row i, NHWC or NCHW: horizontal interpolation of the vertically blended source row t,
// normalized (f32) or rounded (u8), stored in place. One pass over the column table; the channel
// loop is unrolled when kC is known (kC = 0: channels known only at run time).
template <int kC, typename T>
void horizontal(const float* t, const int32_t* o0, const int32_t* o1, const float* wx, int ow,
                int c, bool planar, size_t plane, const float* scale, const float* shift, T* d) {
  constexpr bool kF32 = std::is_same_v<T, float>;
  const int C = kC ? kC : c;
  const size_t cs = planar ? plane : 1, js = planar ? 1 : static_cast<size_t>(C);
  for (int j = 0; j < ow; ++j) {
    const float* p = t + o0[j];
    const float* q = t + o1[j];
    const float w = wx[j];
    T* dj = d + j * js;
    for (int ch = 0; ch < C; ++ch) {
      const float v = p[ch] + w * (q[ch] - p[ch]);
      if constexpr (kF32)
        dj[ch * cs] = v * scale[ch] + shift[ch];
      else  // a blend of u8 values lies in [0, 255] (up to rounding): + 0.5 and truncate rounds
        dj[ch * cs] = static_cast<uint8_t>(v + 0.5f);
    }
  }
}

// The f32 RGB case, four lanes at a time (R, G, B and a lane that is thrown away): one unaligned
// load per tap instead of three, one multiply-add for all channels. t carries one float of
// padding so the fourth lane of the last pixel's load stays inside it.
using V4 = float __attribute__((vector_size(16)));

inline V4 load4(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void horizontal_rgb(const float* t, const int32_t* o0, const int32_t* o1, const float* wx, int ow,
                    bool planar, size_t plane, const float* scale, const float* shift, float* d) {
  const V4 a = {scale[0], scale[1], scale[2], 0.f}, b = {shift[0], shift[1], shift[2], 0.f};
  if (planar) {
    for (int j = 0; j < ow; ++j) {
      const V4 p = load4(t + o0[j]);
      const V4 v = (p + wx[j] * (load4(t + o1[j]) - p)) * a + b;
      d[j] = v[0];
      d[plane + j] = v[1];
      d[2 * plane + j] = v[2];
    }
    return;
  }
  // NHWC: a 4-lane store spills one float into the next pixel, which overwrites it; the last
  // pixel stores its three lanes alone.
  for (int j = 0; j < ow; ++j) {
    const V4 p = load4(t + o0[j]);
    const V4 v = (p + wx[j] * (load4(t + o1[j]) - p)) * a + b;
    if (j + 1 < ow) {
      std::memcpy(d + 3 * j, &v, sizeof v);
    } else {
      d[3 * j] = v[0], d[3 * j + 1] = v[1], d[3 * j + 2] = v[2];
    }
  }
}

template <int kC>
void resize_impl(const uint8_t* src, int sw, int c, const ResizeWindow& win,
                 const ResizeTarget& out, std::vector<int32_t>& index, std::vector<float>& buf) {
  const int C = kC ? kC : c;
  const int ow = out.width, oh = out.height;
  const bool planar = out.layout == Layout::nchw;
  index.resize(2 * static_cast<size_t>(ow));
  int32_t* o0 = index.data();
  int32_t* o1 = o0 + ow;
  const double step_x = win.w / ow, step_y = win.h / oh;
  int lo = win.clip_x1, hi = win.clip_x0;  // the source columns any output column reads
  for (int j = 0; j < ow; ++j) {
    const Tap t = tap(win.x, step_x, j, win.clip_x0, win.clip_x1);
    lo = std::min(lo, t.i0);
    hi = std::max(hi, t.i1);
  }
  const int span = (hi - lo + 1) * C;
  buf.resize(static_cast<size_t>(ow) + static_cast<size_t>(span) + 1);
  float* wx = buf.data();
  float* t = wx + ow;  // the vertically blended source row, columns lo..hi
  for (int j = 0; j < ow; ++j) {
    const Tap tp = tap(win.x, step_x, j, win.clip_x0, win.clip_x1);
    const int jj = out.flip ? ow - 1 - j : j;  // a flip is only a mirrored table
    o0[jj] = (tp.i0 - lo) * C;
    o1[jj] = (tp.i1 - lo) * C;
    wx[jj] = tp.w;
  }
  const size_t plane = static_cast<size_t>(ow) * oh, stride = static_cast<size_t>(sw) * C;
  const size_t row_elems = planar ? static_cast<size_t>(ow) : static_cast<size_t>(ow) * C;
  for (int i = 0; i < oh; ++i) {
    const Tap ty = tap(win.y, step_y, i, win.clip_y0, win.clip_y1);
    const uint8_t* r0 = src + ty.i0 * stride + static_cast<size_t>(lo) * C;
    const uint8_t* r1 = src + ty.i1 * stride + static_cast<size_t>(lo) * C;
    // Vertical first, over just the span the columns read: contiguous, so it vectorizes.
    const float ly = ty.w;
    for (int k = 0; k < span; ++k) {
      const float p = r0[k];
      t[k] = p + ly * (static_cast<float>(r1[k]) - p);
    }
    if (kC == 3 && out.dtype == DType::f32)
      horizontal_rgb(t, o0, o1, wx, ow, planar, plane, out.scale, out.shift,
                     static_cast<float*>(out.dst) + i * row_elems);
    else if (out.dtype == DType::f32)
      horizontal<kC>(t, o0, o1, wx, ow, C, planar, plane, out.scale, out.shift,
                     static_cast<float*>(out.dst) + i * row_elems);
    else
      horizontal<kC>(t, o0, o1, wx, ow, C, planar, plane, out.scale, out.shift,
                     static_cast<uint8_t*>(out.dst) + i * row_elems);
  }
}

}  // namespace

void resize_window(const uint8_t* src, int sw, int c, const ResizeWindow& win,
                   const ResizeTarget& out, std::vector<int32_t>& index, std::vector<float>& buf) {
  SDL_ASSERT(out.width >= 1 && out.height >= 1 && c >= 1, "resize_window: empty output");
  SDL_ASSERT(win.clip_x0 >= 0 && win.clip_x1 < sw && win.clip_x0 <= win.clip_x1 &&
                 win.clip_y0 >= 0 && win.clip_y0 <= win.clip_y1,
             "resize_window: clip range outside the source");
  SDL_ASSERT(out.dtype == DType::u8 || (out.scale && out.shift), "resize_window: f32 needs scale");
  if (c == 3)
    resize_impl<3>(src, sw, c, win, out, index, buf);
  else if (c == 1)
    resize_impl<1>(src, sw, c, win, out, index, buf);
  else
    resize_impl<0>(src, sw, c, win, out, index, buf);
}

void resize_bilinear(const uint8_t* src, int sw, int sh, int c, Rect src_roi, uint8_t* dst, int dw,
                     int dh) {
  SDL_ASSERT(src_roi.x >= 0 && src_roi.y >= 0 && src_roi.w >= 1 && src_roi.h >= 1 &&
                 src_roi.x + src_roi.w <= sw && src_roi.y + src_roi.h <= sh,
             "resize_bilinear: region outside the source image");
  ResizeWindow win;
  win.x = src_roi.x;
  win.y = src_roi.y;
  win.w = src_roi.w;
  win.h = src_roi.h;
  win.clip_x0 = src_roi.x;
  win.clip_y0 = src_roi.y;
  win.clip_x1 = src_roi.x + src_roi.w - 1;
  win.clip_y1 = src_roi.y + src_roi.h - 1;
  ResizeTarget t;
  t.dst = dst;
  t.width = dw;
  t.height = dh;
  t.dtype = DType::u8;
  std::vector<int32_t> index;
  std::vector<float> buf;
  resize_window(src, sw, c, win, t, index, buf);
}

}  // namespace scaledl
