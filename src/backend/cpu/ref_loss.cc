// Reference softmax cross-entropy with label smoothing: mean over the batch of
// -sum_k target_k * log_softmax_k, target = (1 - s) * onehot + s / K, and d loss / d logits.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/checks.h"
#include "ops/ops.h"

namespace scaledl::ref {

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float smoothing,
                           Tensor& loss, Tensor& dlogits) {
  const char* op = "softmax_cross_entropy";
  require_f32(op, "logits", logits);  // shapes validated before dispatch (ops/validate.cc)
  const int64_t N = logits.dim(0), K = logits.dim(1);
  const int32_t* lab = labels.data<int32_t>();
  for (int64_t r = 0; r < N; ++r)
    if (lab[r] < 0 || lab[r] >= K)
      throw Error(op, "label " + std::to_string(lab[r]) + " at batch row " + std::to_string(r) +
                          " is outside [0, " + std::to_string(K) +
                          "); labels must be class indices below the number of logits (" +
                          logits.str() + ")");

  const float* z = logits.data<float>();
  const double s = smoothing;
  std::vector<double> target(static_cast<size_t>(K));
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = z + n * K;
    double zmax = row[0];
    for (int64_t k = 1; k < K; ++k) zmax = std::max<double>(zmax, row[k]);
    double sum_exp = 0.0;
    for (int64_t k = 0; k < K; ++k) sum_exp += std::exp(row[k] - zmax);
    const double lse = zmax + std::log(sum_exp);
    for (int64_t k = 0; k < K; ++k)
      target[k] = (k == lab[n] ? 1.0 - s : 0.0) + s / static_cast<double>(K);
    for (int64_t k = 0; k < K; ++k) total -= target[k] * (row[k] - lse);
    if (dlogits.defined()) {
      float* g = dlogits.data<float>() + n * K;
      for (int64_t k = 0; k < K; ++k)
        g[k] = static_cast<float>((std::exp(row[k] - lse) - target[k]) / static_cast<double>(N));
    }
  }
  loss.data<float>()[0] = static_cast<float>(total / static_cast<double>(N));
}

}  // namespace scaledl::ref
