// Softmax cross-entropy with label smoothing: one OpenMP pass per batch row (log-sum-exp in
// double, the loss and, when asked, the gradient of the batch-mean loss).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/dnnl_common.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float smoothing,
                           Tensor& loss, Tensor& dlogits) {
  constexpr const char* op = "softmax_cross_entropy";
  require_f32(op, "logits", logits);  // shapes validated before dispatch (ops/validate.cc)
  const int64_t N = logits.dim(0), K = logits.dim(1);
  const bool grad = dlogits.defined();
  const int32_t* lab = labels.data<int32_t>();
  for (int64_t n = 0; n < N; ++n)
    SDL_REQUIRE(lab[n] >= 0 && lab[n] < K, op,
                "label " + std::to_string(lab[n]) + " at batch row " + std::to_string(n) +
                    " is outside [0, " + std::to_string(K) + ")");

  const float* z = logits.data<float>();
  float* dz = grad ? dlogits.data<float>() : nullptr;
  const double on = 1.0 - smoothing, off = static_cast<double>(smoothing) / K;
  const double inv_n = N > 0 ? 1.0 / static_cast<double>(N) : 0.0;
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* row = z + n * K;
    float mx = row[0];
    for (int64_t k = 1; k < K; ++k) mx = std::max(mx, row[k]);
    double sum_exp = 0.0, sum_z = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      sum_exp += std::exp(static_cast<double>(row[k] - mx));
      sum_z += row[k];
    }
    const double lse = mx + std::log(sum_exp);
    // -sum_k t_k (z_k - lse) with t = on * onehot + off.
    total += lse - on * row[lab[n]] - off * sum_z;
    if (grad) {
      float* drow = dz + n * K;
      const double inv_sum = 1.0 / sum_exp;
      for (int64_t k = 0; k < K; ++k) {
        const double p = std::exp(static_cast<double>(row[k] - mx)) * inv_sum;
        drow[k] = static_cast<float>((p - off - (k == lab[n] ? on : 0.0)) * inv_n);
      }
    }
  }
  loss.data<float>()[0] = static_cast<float>(total * inv_n);
}

}  // namespace scaledl::cpu
