// Reference 2-D convolution (forward, backward data, backward weights): direct loops over the
// PyTorch definition with stride, zero padding, dilation and groups, double accumulators.
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/checks.h"
#include "ops/ops.h"

namespace scaledl::ref {

namespace {

// The extents of one convolution, checked against the tensors of a call.
struct ConvDims {
  int64_t N, C, H, W, O, OH, OW, KH, KW, Cg, Og;
};

// Dims from the input-side tensor `x` (x or dx), the weights, and the output-side `y` (y or dy).
// Their shapes were validated before dispatch (ops/validate.cc); this backend runs f32 only.
ConvDims conv_dims(const char* op, const Conv2dParams& p, const Tensor& x, const Tensor& w,
                   const Tensor& y) {
  require_f32(op, "input", x);
  require_f32(op, "weights", w);
  require_f32(op, "output", y);
  ConvDims d{};
  d.N = x.dim(0), d.C = x.dim(1), d.H = x.dim(2), d.W = x.dim(3);
  d.O = w.dim(0), d.KH = w.dim(2), d.KW = w.dim(3);
  d.Cg = d.C / p.groups;
  d.Og = d.O / p.groups;
  d.OH = y.dim(2);
  d.OW = y.dim(3);
  return d;
}

// Plain [O, C/groups, KH, KW] weight offset (the tag is honoured if someone set nhwc).
int64_t woff(const Tensor& w, const ConvDims& d, int64_t o, int64_t c, int64_t kh, int64_t kw) {
  return offset4(w.layout(), o, c, kh, kw, d.Cg, d.KH, d.KW);
}

// Every multiply of the convolution: fn(xi, wi, yi) with the flat offsets of the input pixel,
// the weight and the output pixel it joins (taps that fall in the zero padding are skipped).
// The three passes are the same sum read three ways: y = sum x*w, dx = sum dy*w, dw = sum x*dy.
template <typename Fn>
void each_tap(const Conv2dParams& p, const ConvDims& d, Layout xl, const Tensor& w, Layout yl,
              Fn&& fn) {
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t o = 0; o < d.O; ++o) {
      const int64_t g = o / d.Og;
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow) {
          const int64_t yi = offset4(yl, n, o, oh, ow, d.O, d.OH, d.OW);
          for (int64_t c = 0; c < d.Cg; ++c)
            for (int64_t kh = 0; kh < d.KH; ++kh) {
              const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dil_h;
              if (ih < 0 || ih >= d.H) continue;
              for (int64_t kw = 0; kw < d.KW; ++kw) {
                const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dil_w;
                if (iw < 0 || iw >= d.W) continue;
                fn(offset4(xl, n, g * d.Cg + c, ih, iw, d.C, d.H, d.W), woff(w, d, o, c, kh, kw),
                   yi);
              }
            }
        }
    }
}

void store(const std::vector<double>& acc, Tensor& out) {
  float* p = out.data<float>();
  for (size_t i = 0; i < acc.size(); ++i) p[i] = static_cast<float>(acc[i]);
}

}  // namespace

void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& b,
                    Tensor& y) {
  const char* op = "conv2d_forward";
  const ConvDims d = conv_dims(op, p, x, w, y);
  if (b.defined()) require_f32(op, "bias", b);
  std::vector<double> acc(static_cast<size_t>(y.numel()), 0.0);
  if (b.defined())
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t o = 0; o < d.O; ++o)
        for (int64_t oh = 0; oh < d.OH; ++oh)
          for (int64_t ow = 0; ow < d.OW; ++ow)
            acc[offset4(y.layout(), n, o, oh, ow, d.O, d.OH, d.OW)] = b.data<float>()[o];
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  each_tap(p, d, x.layout(), w, y.layout(), [&](int64_t xi, int64_t wi, int64_t yi) {
    acc[yi] += static_cast<double>(xp[xi]) * wp[wi];
  });
  store(acc, y);
}

void conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  const char* op = "conv2d_backward_data";
  const ConvDims d = conv_dims(op, p, dx, w, dy);
  // Scatter every output gradient back through the window that produced it.
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  const float* dyp = dy.data<float>();
  const float* wp = w.data<float>();
  each_tap(p, d, dx.layout(), w, dy.layout(), [&](int64_t xi, int64_t wi, int64_t yi) {
    acc[xi] += static_cast<double>(dyp[yi]) * wp[wi];
  });
  store(acc, dx);
}

void conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor& db) {
  const char* op = "conv2d_backward_weights";
  const ConvDims d = conv_dims(op, p, x, dw, dy);
  if (db.defined()) require_f32(op, "bias gradient", db);
  const float* xp = x.data<float>();
  const float* dyp = dy.data<float>();
  std::vector<double> acc(static_cast<size_t>(dw.numel()), 0.0);
  each_tap(p, d, x.layout(), dw, dy.layout(), [&](int64_t xi, int64_t wi, int64_t yi) {
    acc[wi] += static_cast<double>(dyp[yi]) * xp[xi];
  });
  store(acc, dw);
  if (!db.defined()) return;
  float* dbp = db.data<float>();
  for (int64_t o = 0; o < d.O; ++o) {
    double sum = 0.0;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow)
          sum += dyp[offset4(dy.layout(), n, o, oh, ow, d.O, d.OH, d.OW)];
    dbp[o] = static_cast<float>(sum);
  }
}

}  // namespace scaledl::ref
