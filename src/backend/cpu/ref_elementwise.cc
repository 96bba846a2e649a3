// Reference elementwise and data-movement ops: relu, add, dropout (mask from hash_words), channel
// concat/split of 4-D tensors, and reorder between nchw and nhwc.
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/rng.h"
#include "ops/checks.h"
#include "ops/ops.h"

namespace scaledl::ref {

// Shapes, layouts and dtypes are validated before dispatch (ops/validate.cc); this backend runs
// f32 only.

void relu_forward(const Tensor& x, Tensor& y) {
  const char* op = "relu_forward";
  require_f32(op, "input", x);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i)
    yp[i] = std::isnan(xp[i]) || xp[i] > 0.f ? xp[i] : 0.f;
}

void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  const char* op = "relu_backward";
  require_f32(op, "output", y);
  const float* yp = y.data<float>();
  const float* dyp = dy.data<float>();
  float* dxp = dx.data<float>();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) dxp[i] = yp[i] > 0.f ? dyp[i] : 0.f;
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
  const char* op = "add";
  require_f32(op, "a", a);
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) yp[i] = ap[i] + bp[i];
}

void dropout_forward(float p, uint64_t seed, const Tensor& x, Tensor& y, Tensor& mask) {
  const char* op = "dropout_forward";
  require_f32(op, "input", x);
  if (!mask.defined()) mask = Tensor::empty(x.shape(), DType::u8, x.device(), x.layout());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  uint8_t* mp = mask.data<uint8_t>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) {
    mp[i] = bits_to_unit(hash_words(seed, static_cast<uint64_t>(i))) >= p ? 1 : 0;
    yp[i] = mp[i] ? xp[i] / (1.f - p) : 0.f;
  }
}

void dropout_backward(float p, const Tensor& mask, const Tensor& dy, Tensor& dx) {
  const char* op = "dropout_backward";
  require_f32(op, "output gradient", dy);
  const uint8_t* mp = mask.data<uint8_t>();
  const float* dyp = dy.data<float>();
  float* dxp = dx.data<float>();
  for (int64_t i = 0, n = dy.numel(); i < n; ++i) dxp[i] = mp[i] ? dyp[i] / (1.f - p) : 0.f;
}

void concat_channels(const std::vector<Tensor>& xs, Tensor& y) {
  const char* op = "concat_channels";
  require_f32(op, "y", y);
  const int64_t N = y.dim(0), C = y.dim(1), H = y.dim(2), W = y.dim(3);
  float* yp = y.data<float>();
  int64_t c0 = 0;
  for (const Tensor& x : xs) {
    const int64_t Cx = x.dim(1);
    const float* xp = x.data<float>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < Cx; ++c)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            yp[offset4(y.layout(), n, c0 + c, h, w, C, H, W)] =
                xp[offset4(x.layout(), n, c, h, w, Cx, H, W)];
    c0 += Cx;
  }
}

void split_channels(const Tensor& y, std::vector<Tensor>& xs) {
  const char* op = "split_channels";
  require_f32(op, "y", y);
  const int64_t N = y.dim(0), C = y.dim(1), H = y.dim(2), W = y.dim(3);
  const float* yp = y.data<float>();
  int64_t c0 = 0;
  for (Tensor& x : xs) {
    const int64_t Cx = x.dim(1);
    float* xp = x.data<float>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < Cx; ++c)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            xp[offset4(x.layout(), n, c, h, w, Cx, H, W)] =
                yp[offset4(y.layout(), n, c0 + c, h, w, C, H, W)];
    c0 += Cx;
  }
}

void reorder(const Tensor& x, Tensor& y) {
  const size_t es = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y.raw());
  if (x.ndim() != 4 || x.layout() == y.layout()) {
    std::memcpy(dst, src, x.nbytes());
    return;
  }
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          std::memcpy(dst + es * offset4(y.layout(), n, c, h, w, C, H, W),
                      src + es * offset4(x.layout(), n, c, h, w, C, H, W), es);
}

}  // namespace scaledl::ref
