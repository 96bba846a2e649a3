// Reference pooling as torch.nn.MaxPool2d / AvgPool2d (padding, ceil_mode, count_include_pad)
// and global average pooling [N,C,H,W] -> [N,C]; forward and backward.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "ops/checks.h"
#include "ops/ops.h"

namespace scaledl::ref {

namespace {

struct PoolDims {
  int64_t N, C, H, W, OH, OW;
};

// Dims from the input-side tensor `x` (x or dx) and the output-side `y` (y or dy), whose shapes
// were validated before dispatch (ops/validate.cc); this backend runs f32 only.
PoolDims pool_dims(const char* op, const Tensor& x, const Tensor& y) {
  require_f32(op, "input", x);
  require_f32(op, "output", y);
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3), y.dim(2), y.dim(3)};
}

// The window of output (oh, ow) for average pooling, as PyTorch: the window is first clipped to
// input + padding (that size is the count_include_pad divisor), then to the input itself.
struct AvgWindow {
  int64_t h0, h1, w0, w1;  // [h0, h1) x [w0, w1) inside the input
  double divisor;
};

AvgWindow avg_window(const Pool2dParams& p, const PoolDims& d, int64_t oh, int64_t ow) {
  int64_t h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
  int64_t h1 = std::min(h0 + p.kernel_h, d.H + p.pad_h);
  int64_t w1 = std::min(w0 + p.kernel_w, d.W + p.pad_w);
  const int64_t padded_area = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, d.H), w1 = std::min(w1, d.W);
  const int64_t area = std::max<int64_t>(h1 - h0, 0) * std::max<int64_t>(w1 - w0, 0);
  return {h0, h1, w0, w1, static_cast<double>(p.count_include_pad ? padded_area : area)};
}

}  // namespace

void maxpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y, Tensor& workspace) {
  const char* op = "maxpool2d_forward";
  const PoolDims d = pool_dims(op, x, y);
  // Workspace: s32 argmax per output element, as h * W + w inside its (n, c) input plane.
  if (!workspace.defined() || workspace.dtype() != DType::s32 || workspace.numel() != y.numel())
    workspace = Tensor::empty(y.shape(), DType::s32, y.device(), y.layout());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  int32_t* arg = workspace.data<int32_t>();
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow) {
          float best = -INFINITY;
          int64_t best_at = -1;
          for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
            const int64_t ih = oh * p.stride_h - p.pad_h + kh;
            if (ih < 0 || ih >= d.H) continue;
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t iw = ow * p.stride_w - p.pad_w + kw;
              if (iw < 0 || iw >= d.W) continue;
              const float v = xp[offset4(x.layout(), n, c, ih, iw, d.C, d.H, d.W)];
              // First maximum in scan order wins ties; NaN propagates (as PyTorch).
              if (best_at < 0 || v > best || std::isnan(v)) best = v, best_at = ih * d.W + iw;
            }
          }
          const int64_t o = offset4(y.layout(), n, c, oh, ow, d.C, d.OH, d.OW);
          yp[o] = best;
          arg[o] = static_cast<int32_t>(best_at);
        }
}

void maxpool2d_backward(const Pool2dParams&, const Tensor&, const Tensor&, const Tensor& workspace,
                        const Tensor& dy, Tensor& dx) {
  const char* op = "maxpool2d_backward";
  const PoolDims d = pool_dims(op, dx, dy);
  SDL_REQUIRE(
      workspace.defined() && workspace.dtype() == DType::s32 && workspace.numel() == dy.numel(), op,
      "workspace must be the s32 argmax that reference maxpool2d_forward wrote, got " +
          describe(workspace));
  const float* dyp = dy.data<float>();
  const int32_t* arg = workspace.data<int32_t>();
  dx.zero();
  float* dxp = dx.data<float>();
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow) {
          const int64_t o = offset4(dy.layout(), n, c, oh, ow, d.C, d.OH, d.OW);
          const int64_t a = arg[o];
          if (a < 0) continue;
          dxp[offset4(dx.layout(), n, c, a / d.W, a % d.W, d.C, d.H, d.W)] += dyp[o];
        }
}

void avgpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y) {
  const char* op = "avgpool2d_forward";
  const PoolDims d = pool_dims(op, x, y);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow) {
          const AvgWindow win = avg_window(p, d, oh, ow);
          double sum = 0.0;
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw)
              sum += xp[offset4(x.layout(), n, c, ih, iw, d.C, d.H, d.W)];
          yp[offset4(y.layout(), n, c, oh, ow, d.C, d.OH, d.OW)] =
              win.divisor > 0 ? static_cast<float>(sum / win.divisor) : 0.f;
        }
}

void avgpool2d_backward(const Pool2dParams& p, const Tensor& dy, Tensor& dx) {
  const char* op = "avgpool2d_backward";
  const PoolDims d = pool_dims(op, dx, dy);
  const float* dyp = dy.data<float>();
  dx.zero();
  float* dxp = dx.data<float>();
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow) {
          const AvgWindow win = avg_window(p, d, oh, ow);
          if (win.divisor <= 0) continue;
          const float g = static_cast<float>(
              dyp[offset4(dy.layout(), n, c, oh, ow, d.C, d.OH, d.OW)] / win.divisor);
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw)
              dxp[offset4(dx.layout(), n, c, ih, iw, d.C, d.H, d.W)] += g;
        }
}

void global_avgpool_forward(const Tensor& x, Tensor& y) {
  const char* op = "global_avgpool_forward";
  require_f32(op, "input", x);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0.0;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) sum += xp[offset4(x.layout(), n, c, h, w, C, H, W)];
      yp[n * C + c] = static_cast<float>(sum / static_cast<double>(H * W));
    }
}

void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  const char* op = "global_avgpool_backward";
  require_f32(op, "input gradient", dx);
  const int64_t N = dx.dim(0), C = dx.dim(1), H = dx.dim(2), W = dx.dim(3);
  const float* dyp = dy.data<float>();
  float* dxp = dx.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float g = static_cast<float>(dyp[n * C + c] / static_cast<double>(H * W));
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) dxp[offset4(dx.layout(), n, c, h, w, C, H, W)] = g;
    }
}

}  // namespace scaledl::ref
