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

namespace {

// `t` must be an f32 tensor with the shape and layout of `ref` (elementwise in memory order).
void require_like(const char* op, const char* name, const Tensor& t, const Tensor& like,
                  DType dtype = DType::f32) {
  require(
      t.defined() && t.dtype() == dtype && t.shape() == like.shape() && t.layout() == like.layout(),
      op,
      std::string(name) + " must be " + std::string(dtype_name(dtype)) + shape_str(like.shape()) +
          " in the layout of " + like.str() + ", got " + describe(t));
}

void require_dropout_p(const char* op, float p) {
  require(p >= 0.f && p < 1.f, op,
          "dropout probability must be in [0, 1), got " + std::to_string(p));
}

}  // namespace

void relu_forward(const Tensor& x, Tensor& y) {
  const char* op = "relu_forward";
  require_f32(op, "input", x);
  require_like(op, "output", y, x);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i)
    yp[i] = std::isnan(xp[i]) || xp[i] > 0.f ? xp[i] : 0.f;
}

void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  const char* op = "relu_backward";
  require_f32(op, "output", y);
  require_like(op, "output gradient", dy, y);
  require_like(op, "input gradient", dx, y);
  const float* yp = y.data<float>();
  const float* dyp = dy.data<float>();
  float* dxp = dx.data<float>();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) dxp[i] = yp[i] > 0.f ? dyp[i] : 0.f;
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
  const char* op = "add";
  require_f32(op, "a", a);
  require_like(op, "b", b, a);
  require_like(op, "output", y, a);
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) yp[i] = ap[i] + bp[i];
}

void dropout_forward(float p, uint64_t seed, const Tensor& x, Tensor& y, Tensor& mask) {
  const char* op = "dropout_forward";
  require_dropout_p(op, p);
  require_f32(op, "input", x);
  require_like(op, "output", y, x);
  if (!mask.defined()) mask = Tensor::empty(x.shape(), DType::u8, x.device(), x.layout());
  require_like(op, "mask", mask, x, DType::u8);
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
  require_dropout_p(op, p);
  require_f32(op, "output gradient", dy);
  require_like(op, "mask", mask, dy, DType::u8);
  require_like(op, "input gradient", dx, dy);
  const uint8_t* mp = mask.data<uint8_t>();
  const float* dyp = dy.data<float>();
  float* dxp = dx.data<float>();
  for (int64_t i = 0, n = dy.numel(); i < n; ++i) dxp[i] = mp[i] ? dyp[i] / (1.f - p) : 0.f;
}

namespace {

// Checks the parts of a channel concatenation against the whole `y`.
void check_channel_parts(const char* op, const std::vector<Tensor>& xs, const Tensor& y) {
  require(y.defined() && y.dtype() == DType::f32 && y.ndim() == 4, op,
          "the concatenated tensor must be 4-D f32, got " + describe(y));
  require(!xs.empty(), op, "needs at least one part");
  int64_t channels = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    require(x.defined() && x.dtype() == DType::f32 && x.ndim() == 4 && x.dim(0) == y.dim(0) &&
                x.dim(2) == y.dim(2) && x.dim(3) == y.dim(3) && x.layout() == y.layout(),
            op,
            "part " + std::to_string(i) + " must be 4-D f32 with the N, H, W and layout of " +
                y.str() + ", got " + describe(x));
    channels += x.dim(1);
  }
  require(channels == y.dim(1), op,
          "the parts' channels add up to " + std::to_string(channels) + ", not the " +
              std::to_string(y.dim(1)) + " of " + y.str());
}

}  // namespace

void concat_channels(const std::vector<Tensor>& xs, Tensor& y) {
  const char* op = "concat_channels";
  check_channel_parts(op, xs, y);
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
  check_channel_parts(op, xs, y);
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
  const char* op = "reorder";
  require(x.defined() && y.defined() && x.dtype() == y.dtype() && x.shape() == y.shape(), op,
          "input and output must have the same dtype and logical shape, got " + describe(x) +
              " and " + describe(y));
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
