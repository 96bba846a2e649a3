// Evaluation: top-1/top-5 accuracy and mean cross-entropy of a Net over a whole split.
#pragma once
#include <cstdint>

#include "data/loader.h"
#include "nn/net.h"

namespace scaledl {

struct EvalResult {
  double top1 = 0, top5 = 0;  // percent
  double loss = 0;            // mean cross-entropy (no smoothing)
  int64_t samples = 0;
  double seconds = 0;
};

// Runs every batch of epoch 0 of `loader` (made with shuffle none and LastBatch::pad, at the
// Net's batch size) in inference mode; a padded last batch counts only its real samples.
EvalResult evaluate(Net& net, Loader& loader);

}  // namespace scaledl
