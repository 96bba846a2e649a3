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
ConvDims conv_dims(const char* op, const Conv2dParams& p, const Tensor& x, const Tensor& w,
                   const Tensor& y) {
  require_4d(op, "input", x);
  require_4d(op, "weights", w);
  require_4d(op, "output", y);
  require(x.layout() == y.layout(), op,
          "input and output must share a layout, got " + x.str() + " and " + y.str());
  require(p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1 && p.pad_h >= 0 &&
              p.pad_w >= 0 && p.groups >= 1,
          op, "stride and dilation must be >= 1, padding >= 0, groups >= 1");
  ConvDims d{};
  d.N = x.dim(0), d.C = x.dim(1), d.H = x.dim(2), d.W = x.dim(3);
  d.O = w.dim(0), d.KH = w.dim(2), d.KW = w.dim(3);
  require(d.C == w.dim(1) * p.groups, op,
          "input channels " + std::to_string(d.C) + " != weight channels " +
              std::to_string(w.dim(1)) + " * groups " + std::to_string(p.groups) + "; got input " +
              x.str() + ", weights " + w.str());
  require(d.O % p.groups == 0, op,
          "output channels " + std::to_string(d.O) + " are not divisible by groups " +
              std::to_string(p.groups) + "; got weights " + w.str());
  d.Cg = d.C / p.groups;
  d.Og = d.O / p.groups;
  d.OH = conv_out_size(d.H, static_cast<int>(d.KH), p.stride_h, p.pad_h, p.dil_h);
  d.OW = conv_out_size(d.W, static_cast<int>(d.KW), p.stride_w, p.pad_w, p.dil_w);
  require(
      d.OH >= 1 && d.OW >= 1, op,
      "the (dilated) kernel " + shape_str(w.shape()) + " does not fit the padded input " + x.str());
  require_shape(op, "output", y, {d.N, d.O, d.OH, d.OW});
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
  if (b.defined()) {
    require(b.dtype() == DType::f32, op, "bias must be f32, got " + b.str());
    require_shape(op, "bias", b, {d.O});
  }
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
  if (db.defined()) {
    require(db.dtype() == DType::f32, op, "bias gradient must be f32, got " + db.str());
    require_shape(op, "bias gradient", db, {d.O});
  }
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
