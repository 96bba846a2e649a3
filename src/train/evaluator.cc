// Evaluation loop and top-k metrics.
#include "train/evaluator.h"

#include <chrono>

#include "ops/ops.h"

namespace scaledl {

void score_batch(const Tensor& logits, const Tensor& labels, int64_t n, EvalResult& r) {
  const int64_t k = logits.dim(1);
  Tensor loss = Tensor::empty({1}), no_grad;
  ops::softmax_cross_entropy(logits.view({n, k}, 0), labels.view({n}, 0), 0.f, loss, no_grad);
  r.loss_sum += static_cast<double>(loss.at(0)) * n;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data<float>() + i * k;
    const float truth = row[labels.data<int32_t>()[i]];
    int64_t better = 0;  // classes scored above the true one
    for (int64_t j = 0; j < k; ++j) better += row[j] > truth;
    r.hits1 += better < 1;
    r.hits5 += better < 5;
  }
  r.samples += n;
}

EvalResult evaluate(Net& net, Loader& loader, const std::function<bool()>& stop) {
  auto t0 = std::chrono::steady_clock::now();
  EvalResult r;
  RunContext ctx;
  ctx.training = false;
  loader.seek(0, loader.batches_per_epoch());
  for (int64_t b = 0, nb = loader.batches_per_epoch(); b < nb; ++b) {
    if (stop && stop()) {
      r.interrupted = 1;
      break;
    }
    const Batch& batch = loader.next();
    if (batch.real == 0) continue;
    // Metrics on the host: the logits are small next to the forward pass.
    score_batch(net.forward(batch.x, ctx).to(Device::cpu()), batch.labels, batch.real, r);
  }
  r.finish();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace scaledl
