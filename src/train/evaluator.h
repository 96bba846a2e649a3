// Evaluation: top-1/top-5 accuracy and mean cross-entropy of a Net over a whole split.
#pragma once
#include <cstdint>
#include <functional>

#include "data/loader.h"
#include "nn/net.h"

namespace scaledl {

struct EvalResult {
  double top1 = 0, top5 = 0;  // percent
  double loss = 0;            // mean cross-entropy (no smoothing)
  int64_t samples = 0;
  int64_t hits1 = 0, hits5 = 0;  // counts behind top1/top5
  double loss_sum = 0;           // behind loss
  // top1, top5 and loss from the counts (after summing counts across ranks).
  void finish() {
    if (samples == 0) return;
    top1 = 100.0 * static_cast<double>(hits1) / static_cast<double>(samples);
    top5 = 100.0 * static_cast<double>(hits5) / static_cast<double>(samples);
    loss = loss_sum / static_cast<double>(samples);
  }
  double seconds = 0;
  int interrupted = 0;  // ranks a stop request cut short (then not a result)
};

// Adds the first n rows of f32 logits [>= n, K] against s32 labels to r: top-1/top-5 hits and
// the cross-entropy sum (r.finish() turns them into percentages and the mean).
void score_batch(const Tensor& logits, const Tensor& labels, int64_t n, EvalResult& r);

// Runs every batch of epoch 0 of `loader` (made with shuffle none and LastBatch::pad, at the
// Net's batch size) in inference mode; a padded last batch counts only its real samples.
// `stop`, asked before each batch, cuts the evaluation short (the result is then interrupted).
EvalResult evaluate(Net& net, Loader& loader, const std::function<bool()>& stop = {});

}  // namespace scaledl
