// Reference batch normalization over [N,C,H,W] per channel: training forward (batch statistics,
// running-statistics update as PyTorch), inference forward, and backward; double accumulators.
// Batch norm + ReLU is the two ops in turn: the ground truth the fused kernels match. Shapes
// are validated before dispatch (ops/validate.cc); this backend runs f32 only.
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/checks.h"
#include "ops/ops.h"

namespace scaledl::ref {

namespace {

// Calls fn(i) with the flat index of every (n, h, w) of channel c, in either layout.
template <typename Fn>
void each_in_channel(Layout l, int64_t c, int64_t N, int64_t C, int64_t H, int64_t W, Fn&& fn) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) fn(offset4(l, n, c, h, w, C, H, W));
}

}  // namespace

void batchnorm_forward_train(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, Tensor& y, Tensor& save_mean, Tensor& save_var,
                             Tensor& running_mean, Tensor& running_var) {
  const char* op = "batchnorm_forward_train";
  require_f32(op, "x", x);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t count = N * H * W;
  const Layout l = x.layout();
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0.0;
    each_in_channel(l, c, N, C, H, W, [&](int64_t i) { sum += xp[i]; });
    const double mean = sum / static_cast<double>(count);
    double sq = 0.0;
    each_in_channel(l, c, N, C, H, W, [&](int64_t i) {
      const double dev = xp[i] - mean;
      sq += dev * dev;
    });
    const double var = sq / static_cast<double>(count);
    const double invstd = 1.0 / std::sqrt(var + static_cast<double>(p.eps));
    const double g = gamma.data<float>()[c], b = beta.data<float>()[c];
    each_in_channel(l, c, N, C, H, W, [&](int64_t i) {
      yp[i] = static_cast<float>(g * (xp[i] - mean) * invstd + b);
    });
    save_mean.data<float>()[c] = static_cast<float>(mean);
    save_var.data<float>()[c] = static_cast<float>(var);
    const double m = p.momentum;
    const double unbiased = var * static_cast<double>(count) / static_cast<double>(count - 1);
    float& rm = running_mean.data<float>()[c];
    float& rv = running_var.data<float>()[c];
    rm = static_cast<float>((1.0 - m) * rm + m * mean);
    rv = static_cast<float>((1.0 - m) * rv + m * unbiased);
  }
}

void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, Tensor& y) {
  const char* op = "batchnorm_forward_inference";
  require_f32(op, "x", x);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const Layout l = x.layout();
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    const double mean = running_mean.data<float>()[c];
    const double invstd =
        1.0 / std::sqrt(static_cast<double>(running_var.data<float>()[c]) + p.eps);
    const double g = gamma.data<float>()[c], b = beta.data<float>()[c];
    each_in_channel(l, c, N, C, H, W, [&](int64_t i) {
      yp[i] = static_cast<float>(g * (xp[i] - mean) * invstd + b);
    });
  }
}

void batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                        const Tensor& gamma, const Tensor& save_mean, const Tensor& save_var,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const char* op = "batchnorm_backward";
  require_f32(op, "x", x);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const double count = static_cast<double>(N * H * W);
  const Layout l = x.layout();
  const float* xp = x.data<float>();
  const float* dyp = dy.data<float>();
  float* dxp = dx.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean.data<float>()[c];
    const double invstd = 1.0 / std::sqrt(static_cast<double>(save_var.data<float>()[c]) + p.eps);
    // dbeta = sum dy, dgamma = sum dy * xhat
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    each_in_channel(l, c, N, C, H, W, [&](int64_t i) {
      sum_dy += dyp[i];
      sum_dy_xhat += dyp[i] * (xp[i] - mean) * invstd;
    });
    // dx = gamma * invstd / n * (n * dy - sum dy - xhat * sum(dy * xhat))
    const double k = gamma.data<float>()[c] * invstd / count;
    each_in_channel(l, c, N, C, H, W, [&](int64_t i) {
      const double xhat = (xp[i] - mean) * invstd;
      dxp[i] = static_cast<float>(k * (count * dyp[i] - sum_dy - xhat * sum_dy_xhat));
    });
    dgamma.data<float>()[c] = static_cast<float>(sum_dy_xhat);
    dbeta.data<float>()[c] = static_cast<float>(sum_dy);
  }
}

void batchnorm_relu_forward_train(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, Tensor& y, Tensor& save_mean,
                                  Tensor& save_var, Tensor& running_mean, Tensor& running_var,
                                  Tensor& workspace) {
  batchnorm_forward_train(p, x, gamma, beta, y, save_mean, save_var, running_mean, running_var);
  relu_forward(y, y);
  workspace = Tensor();  // backward masks by y
}

void batchnorm_relu_backward(const BatchNormParams& p, const Tensor& x, const Tensor& y,
                             const Tensor&, const Tensor& dy, const Tensor& gamma,
                             const Tensor& save_mean, const Tensor& save_var, Tensor& dx,
                             Tensor& dgamma, Tensor& dbeta) {
  // dx holds the masked gradient first: batchnorm_backward reads each element before it
  // writes the same one.
  relu_backward(y, dy, dx);
  batchnorm_backward(p, x, dx, gamma, save_mean, save_var, dx, dgamma, dbeta);
}

}  // namespace scaledl::ref
