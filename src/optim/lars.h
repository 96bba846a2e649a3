// LARS (You et al. 2017; allowed by MLPerf Training v0.6 for large-batch ResNet-50), in the
// unclipped ("scale") form of NVIDIA apex's LARC, as MLPerf's reference: for every weight
// tensor w with gradient g,
//   trust = eta * |w| / (|g| + wd * |w|)   (1 when |w| or |g| is 0)
//   g    <- trust * (g + wd * w)
// then SGD with momentum (no further weight decay). Batch-norm parameters and biases are left
// out of the adaptation and of weight decay, as in MLPerf's reference.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "optim/sgd.h"

namespace scaledl {

struct LarsConfig {
  float eta = 0.001f;  // trust coefficient
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 5e-5f;
};

class Lars {
 public:
  Lars(Net& net, LarsConfig config);
  void step(float lr, float grad_scale = 1.f);
  const std::vector<std::pair<std::string, Tensor>>& state() const { return sgd_.state(); }
  // The trust ratios of the last step, one per parameter (1 for norm/bias), for telemetry.
  const std::vector<float>& trust() const { return trust_; }

 private:
  Net& net_;
  LarsConfig config_;
  Sgd sgd_;
  std::vector<float> trust_;
};

}  // namespace scaledl
