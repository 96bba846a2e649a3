// The fused bilinear resize: an x table (source offsets and weight per output column, already
// mirrored for a flip), horizontal interpolation of each needed source row once (a two-row cache:
// consecutive output rows share source rows), then one vertical blend per output row that also
// normalizes and writes in the output layout. No divisions or branches in the per-pixel loops.
#include "data/resize.h"

#include <algorithm>
#include <cmath>

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

// One source row interpolated across: interleaved (NHWC order) or planar (NCHW order).
template <int kC>
void horizontal(const uint8_t* row, const int32_t* o0, const int32_t* o1, const float* wx, int ow,
                int c, bool planar, float* out) {
  const int C = kC ? kC : c;
  if (planar) {
    for (int j = 0; j < ow; ++j) {
      const uint8_t* p = row + o0[j];
      const uint8_t* q = row + o1[j];
      const float w = wx[j];
      for (int ch = 0; ch < C; ++ch) {
        const float a = p[ch];
        out[ch * ow + j] = a + w * (static_cast<float>(q[ch]) - a);
      }
    }
  } else {
    for (int j = 0; j < ow; ++j) {
      const uint8_t* p = row + o0[j];
      const uint8_t* q = row + o1[j];
      const float w = wx[j];
      for (int ch = 0; ch < C; ++ch) {
        const float a = p[ch];
        out[j * C + ch] = a + w * (static_cast<float>(q[ch]) - a);
      }
    }
  }
}

// Vertical blend of n values; f32 gets v * A + B (per element or one a, b), u8 rounds.
inline void blend_f32(const float* r0, const float* r1, float ly, int n, const float* A,
                      const float* B, float* d) {
  for (int k = 0; k < n; ++k) d[k] = (r0[k] + ly * (r1[k] - r0[k])) * A[k] + B[k];
}
inline void blend_f32(const float* r0, const float* r1, float ly, int n, float a, float b,
                      float* d) {
  for (int k = 0; k < n; ++k) d[k] = (r0[k] + ly * (r1[k] - r0[k])) * a + b;
}
inline void blend_u8(const float* r0, const float* r1, float ly, int n, uint8_t* d) {
  // The blend of u8 values lies in [0, 255] (up to rounding), so + 0.5 and truncate rounds.
  for (int k = 0; k < n; ++k) d[k] = static_cast<uint8_t>(r0[k] + ly * (r1[k] - r0[k]) + 0.5f);
}

template <int kC>
void resize_impl(const uint8_t* src, int sw, int c, const ResizeWindow& win,
                 const ResizeTarget& out, std::vector<int32_t>& index, std::vector<float>& buf) {
  const int C = kC ? kC : c;
  const int ow = out.width, oh = out.height, n = ow * C;
  const bool planar = out.layout == Layout::nchw;
  const bool f32 = out.dtype == DType::f32;
  index.resize(2 * static_cast<size_t>(ow));
  buf.resize(static_cast<size_t>(ow) + 4 * static_cast<size_t>(n));
  int32_t* o0 = index.data();
  int32_t* o1 = o0 + ow;
  float* wx = buf.data();
  float* cache[2] = {wx + ow, wx + ow + n};
  float* A = cache[1] + n;  // NHWC f32: scale and shift repeated per pixel, so the blend
  float* B = A + n;         // runs over the whole row without a channel index
  const double step_x = win.w / ow, step_y = win.h / oh;
  for (int j = 0; j < ow; ++j) {
    const Tap t = tap(win.x, step_x, j, win.clip_x0, win.clip_x1);
    const int jj = out.flip ? ow - 1 - j : j;
    o0[jj] = t.i0 * C;
    o1[jj] = t.i1 * C;
    wx[jj] = t.w;
  }
  if (f32 && !planar)
    for (int j = 0; j < ow; ++j)
      for (int ch = 0; ch < C; ++ch) {
        A[j * C + ch] = out.scale[ch];
        B[j * C + ch] = out.shift[ch];
      }
  int ids[2] = {-1, -1};
  // Source row y, interpolated across; never evicts row `keep` (the other row of the pair).
  auto row = [&](int y, int keep) -> const float* {
    for (int s = 0; s < 2; ++s)
      if (ids[s] == y) return cache[s];
    const int s = ids[0] == keep ? 1 : 0;
    horizontal<kC>(src + static_cast<size_t>(y) * sw * C, o0, o1, wx, ow, C, planar, cache[s]);
    ids[s] = y;
    return cache[s];
  };
  const size_t plane = static_cast<size_t>(ow) * oh;
  for (int i = 0; i < oh; ++i) {
    const Tap t = tap(win.y, step_y, i, win.clip_y0, win.clip_y1);
    const float* r0 = row(t.i0, t.i1);
    const float* r1 = row(t.i1, t.i0);
    if (f32) {
      float* d = static_cast<float*>(out.dst);
      if (planar)
        for (int ch = 0; ch < C; ++ch)
          blend_f32(r0 + ch * ow, r1 + ch * ow, t.w, ow, out.scale[ch], out.shift[ch],
                    d + ch * plane + static_cast<size_t>(i) * ow);
      else
        blend_f32(r0, r1, t.w, n, A, B, d + static_cast<size_t>(i) * n);
    } else {
      uint8_t* d = static_cast<uint8_t*>(out.dst);
      if (planar)
        for (int ch = 0; ch < C; ++ch)
          blend_u8(r0 + ch * ow, r1 + ch * ow, t.w, ow,
                   d + ch * plane + static_cast<size_t>(i) * ow);
      else
        blend_u8(r0, r1, t.w, n, d + static_cast<size_t>(i) * n);
    }
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
