// Reference fully connected layer: y[N,M] = x[N,K] w[M,K]^T + b[M], and its two backward
// passes; double accumulators.
#include <string>

#include "core/error.h"
#include "ops/checks.h"
#include "ops/ops.h"

namespace scaledl::ref {

// Shapes are validated before dispatch (ops/validate.cc); this backend runs f32 only.

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const char* op = "linear_forward";
  require_f32(op, "input", x);
  require_f32(op, "weights", w);
  require_f32(op, "output", y);
  if (b.defined()) require_f32(op, "bias", b);
  const int64_t N = x.dim(0), K = x.dim(1), M = w.dim(0);
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  float* yp = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      double acc = b.defined() ? b.data<float>()[m] : 0.0;
      for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(xp[n * K + k]) * wp[m * K + k];
      yp[n * M + m] = static_cast<float>(acc);
    }
}

void linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const char* op = "linear_backward_data";
  require_f32(op, "output gradient", dy);
  require_f32(op, "weights", w);
  require_f32(op, "input gradient", dx);
  const int64_t N = dy.dim(0), M = w.dim(0), K = w.dim(1);
  const float* dyp = dy.data<float>();
  const float* wp = w.data<float>();
  float* dxp = dx.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double acc = 0.0;
      for (int64_t m = 0; m < M; ++m) acc += static_cast<double>(dyp[n * M + m]) * wp[m * K + k];
      dxp[n * K + k] = static_cast<float>(acc);
    }
}

void linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  const char* op = "linear_backward_weights";
  require_f32(op, "input", x);
  require_f32(op, "output gradient", dy);
  require_f32(op, "weight gradient", dw);
  if (db.defined()) require_f32(op, "bias gradient", db);
  const int64_t N = x.dim(0), K = x.dim(1), M = dy.dim(1);
  const float* xp = x.data<float>();
  const float* dyp = dy.data<float>();
  float* dwp = dw.data<float>();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) {
      double acc = 0.0;
      for (int64_t n = 0; n < N; ++n) acc += static_cast<double>(dyp[n * M + m]) * xp[n * K + k];
      dwp[m * K + k] = static_cast<float>(acc);
    }
  if (!db.defined()) return;
  float* dbp = db.data<float>();
  for (int64_t m = 0; m < M; ++m) {
    double acc = 0.0;
    for (int64_t n = 0; n < N; ++n) acc += dyp[n * M + m];
    dbp[m] = static_cast<float>(acc);
  }
}

}  // namespace scaledl::ref
