// The trainer's optimizer: SGD or LARS (from TrainConfig) behind one step() and one
// checkpointable state.
#pragma once
#include <memory>

#include "nn/net.h"
#include "optim/lars.h"
#include "optim/sgd.h"
#include "train/checkpoint.h"  // OptimizerState
#include "train/config.h"

namespace scaledl {

class Optimizer {
 public:
  Optimizer(Net& net, const TrainConfig& cfg);
  // grad_scale: 1 / the loss scale the gradients carry.
  void step(float lr, float grad_scale) {
    lars_ ? lars_->step(lr, grad_scale) : sgd_->step(lr, grad_scale);
  }
  const OptimizerState& state() const { return lars_ ? lars_->state() : sgd_->state(); }

 private:
  std::unique_ptr<Sgd> sgd_;
  std::unique_ptr<Lars> lars_;
};

}  // namespace scaledl
