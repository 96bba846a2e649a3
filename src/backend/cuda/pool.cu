// Max and average pooling as torch.nn.MaxPool2d / AvgPool2d (padding, ceil_mode,
// count_include_pad), nchw or nhwc. An own kernel rather than cuDNN's pooling: cuDNN's
// descriptor has no ceil_mode (GoogLeNet's pools need it). Backward gathers per input element,
// so no atomics and the same sums every run.
#include <string>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/runtime.h"
#include "ops/ops.h"

namespace scaledl::cuda {

namespace {

struct Geo {
  long long N, C, H, W, OH, OW;
  int kh, kw, sh, sw, ph, pw;
  bool nhwc, include_pad;
};

__device__ __forceinline__ void split(const Geo& g, long long i, long long HH, long long WW,
                                      long long& n, long long& c, long long& h, long long& w) {
  split4(g.nhwc, i, g.C, HH, WW, n, c, h, w);
}

// PyTorch's divisor of output (oh, ow): window clipped to input + padding, then to the input.
__device__ __forceinline__ float avg_divisor(const Geo& g, long long oh, long long ow,
                                             long long& h0, long long& h1, long long& w0,
                                             long long& w1) {
  h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  h1 = min(h0 + g.kh, g.H + g.ph), w1 = min(w0 + g.kw, g.W + g.pw);
  const long long padded = (h1 - h0) * (w1 - w0);
  h0 = max(h0, 0LL), w0 = max(w0, 0LL), h1 = min(h1, g.H), w1 = min(w1, g.W);
  const long long area = max(h1 - h0, 0LL) * max(w1 - w0, 0LL);
  return static_cast<float>(g.include_pad ? padded : area);
}

template <class T>
__global__ void max_fwd_k(Geo g, const T* x, T* y, int* arg) {
  const long long total = g.N * g.C * g.OH * g.OW;
  SDL_GRID_STRIDE(i, total) {
    long long n, c, oh, ow;
    split(g, i, g.OH, g.OW, n, c, oh, ow);
    float best = -INFINITY;
    long long at = -1;
    for (int a = 0; a < g.kh; ++a) {
      const long long ih = oh * g.sh - g.ph + a;
      if (ih < 0 || ih >= g.H) continue;
      for (int b = 0; b < g.kw; ++b) {
        const long long iw = ow * g.sw - g.pw + b;
        if (iw < 0 || iw >= g.W) continue;
        const float v = load(x, off4(g.nhwc, n, c, ih, iw, g.C, g.H, g.W));
        if (at < 0 || v > best || v != v) best = v, at = ih * g.W + iw;
      }
    }
    store(y, i, best);
    arg[i] = static_cast<int>(at);
  }
}

// Output windows that contain input row/column `i`: [lo, hi].
__device__ __forceinline__ void windows_of(long long i, int k, int s, int p, long long out,
                                           long long& lo, long long& hi) {
  const long long a = i + p - k + 1;
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  hi = min((i + p) / s, out - 1);
}

template <class T>
__global__ void max_bwd_k(Geo g, const int* arg, const T* dy, T* dx) {
  const long long total = g.N * g.C * g.H * g.W;
  SDL_GRID_STRIDE(i, total) {
    long long n, c, ih, iw;
    split(g, i, g.H, g.W, n, c, ih, iw);
    long long h_lo, h_hi, w_lo, w_hi;
    windows_of(ih, g.kh, g.sh, g.ph, g.OH, h_lo, h_hi);
    windows_of(iw, g.kw, g.sw, g.pw, g.OW, w_lo, w_hi);
    const int me = static_cast<int>(ih * g.W + iw);
    float s = 0.f;
    for (long long oh = h_lo; oh <= h_hi; ++oh)
      for (long long ow = w_lo; ow <= w_hi; ++ow) {
        const long long o = off4(g.nhwc, n, c, oh, ow, g.C, g.OH, g.OW);
        if (arg[o] == me) s += load(dy, o);
      }
    store(dx, i, s);
  }
}

template <class T>
__global__ void avg_fwd_k(Geo g, const T* x, T* y) {
  const long long total = g.N * g.C * g.OH * g.OW;
  SDL_GRID_STRIDE(i, total) {
    long long n, c, oh, ow, h0, h1, w0, w1;
    split(g, i, g.OH, g.OW, n, c, oh, ow);
    const float div = avg_divisor(g, oh, ow, h0, h1, w0, w1);
    float s = 0.f;
    for (long long ih = h0; ih < h1; ++ih)
      for (long long iw = w0; iw < w1; ++iw)
        s += load(x, off4(g.nhwc, n, c, ih, iw, g.C, g.H, g.W));
    store(y, i, div > 0.f ? s / div : 0.f);
  }
}

template <class T>
__global__ void avg_bwd_k(Geo g, const T* dy, T* dx) {
  const long long total = g.N * g.C * g.H * g.W;
  SDL_GRID_STRIDE(i, total) {
    long long n, c, ih, iw;
    split(g, i, g.H, g.W, n, c, ih, iw);
    long long h_lo, h_hi, w_lo, w_hi;
    windows_of(ih, g.kh, g.sh, g.ph, g.OH, h_lo, h_hi);
    windows_of(iw, g.kw, g.sw, g.pw, g.OW, w_lo, w_hi);
    float s = 0.f;
    for (long long oh = h_lo; oh <= h_hi; ++oh)
      for (long long ow = w_lo; ow <= w_hi; ++ow) {
        long long h0, h1, w0, w1;
        const float div = avg_divisor(g, oh, ow, h0, h1, w0, w1);
        if (div > 0.f && ih >= h0 && ih < h1 && iw >= w0 && iw < w1)
          s += load(dy, off4(g.nhwc, n, c, oh, ow, g.C, g.OH, g.OW)) / div;
      }
    store(dx, i, s);
  }
}

// Geometry from the input-side tensor x (x or dx) and output-side y (y or dy), whose shapes
// and device were validated before dispatch (ops/validate.cc).
Geo geometry(const char* op, const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  require_cuda_float(op, "input", x);
  Geo g{x.dim(0),
        x.dim(1),
        x.dim(2),
        x.dim(3),
        y.dim(2),
        y.dim(3),
        p.kernel_h,
        p.kernel_w,
        p.stride_h,
        p.stride_w,
        p.pad_h,
        p.pad_w,
        x.layout() == Layout::nhwc,
        p.count_include_pad};
  return g;
}

}  // namespace

void maxpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y, Tensor& workspace) {
  const char* op = "maxpool2d_forward";
  const Geo g = geometry(op, p, x, y);
  if (!workspace.defined() || workspace.dtype() != DType::s32 || workspace.numel() != y.numel() ||
      !(workspace.device() == y.device()))
    workspace = Tensor::empty(y.shape(), DType::s32, y.device(), y.layout());
  with_float_type(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    max_fwd_k<<<grid_for(y.numel()), 256, 0, context(y.device()).stream>>>(g, ptr<T>(x), ptr<T>(y),
                                                                           ptr<int>(workspace));
  });
  SDL_CUDA(cudaGetLastError());
}

void maxpool2d_backward(const Pool2dParams& p, const Tensor&, const Tensor&,
                        const Tensor& workspace, const Tensor& dy, Tensor& dx) {
  const char* op = "maxpool2d_backward";
  const Geo g = geometry(op, p, dx, dy);
  SDL_REQUIRE(workspace.defined() && workspace.dtype() == DType::s32 &&
                  workspace.numel() == dy.numel() && workspace.device() == dy.device(),
              op,
              "workspace must be the s32 argmax that cuda maxpool2d_forward wrote, got " +
                  describe(workspace));
  with_float_type(dx.dtype(), op, [&](auto t) {
    using T = decltype(t);
    max_bwd_k<<<grid_for(dx.numel()), 256, 0, context(dx.device()).stream>>>(
        g, ptr<int>(workspace), ptr<T>(dy), ptr<T>(dx));
  });
  SDL_CUDA(cudaGetLastError());
}

void avgpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y) {
  const char* op = "avgpool2d_forward";
  const Geo g = geometry(op, p, x, y);
  with_float_type(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    avg_fwd_k<<<grid_for(y.numel()), 256, 0, context(y.device()).stream>>>(g, ptr<T>(x), ptr<T>(y));
  });
  SDL_CUDA(cudaGetLastError());
}

void avgpool2d_backward(const Pool2dParams& p, const Tensor& dy, Tensor& dx) {
  const char* op = "avgpool2d_backward";
  const Geo g = geometry(op, p, dx, dy);
  with_float_type(dx.dtype(), op, [&](auto t) {
    using T = decltype(t);
    avg_bwd_k<<<grid_for(dx.numel()), 256, 0, context(dx.device()).stream>>>(g, ptr<T>(dy),
                                                                             ptr<T>(dx));
  });
  SDL_CUDA(cudaGetLastError());
}

}  // namespace scaledl::cuda
