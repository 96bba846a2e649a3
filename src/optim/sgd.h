// SGD with momentum, Nesterov and weight decay over a Net's parameters. The momentum buffers
// live in one flat tensor parallel to the Net's flat parameters, and a step is one update over
// the whole flat buffer (a u8 mask says which elements are decayed).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "nn/net.h"

namespace scaledl {

struct SgdConfig {
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 0.f;
  bool decay_norm_and_bias = true;  // false: no weight decay on BN parameters and biases
};

class Sgd {
 public:
  Sgd(Net& net, SgdConfig config);
  // One update of every parameter with learning rate `lr`; gradients are scaled by grad_scale.
  void step(float lr, float grad_scale = 1.f);
  // Momentum buffers named "momentum.<param name>" (for checkpoints), views of the flat buffer.
  const std::vector<std::pair<std::string, Tensor>>& state() const { return state_; }
  const SgdConfig& config() const { return config_; }

 private:
  Net& net_;
  SgdConfig config_;
  Tensor flat_momentum_;
  Tensor decay_mask_;  // u8 per parameter element: 1 where weight decay applies
  std::vector<std::pair<std::string, Tensor>> state_;
};

}  // namespace scaledl
