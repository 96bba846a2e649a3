// The trainer's optimizer from TrainConfig.
#include "train/optimizer.h"

namespace scaledl {

Optimizer::Optimizer(Net& net, const TrainConfig& cfg) {
  if (cfg.optimizer == OptimizerKind::lars) {
    LarsConfig lc;
    lc.eta = cfg.lars_eta;
    lc.momentum = cfg.momentum;
    lc.nesterov = cfg.nesterov;
    lc.weight_decay = cfg.weight_decay;
    lars_ = std::make_unique<Lars>(net, lc);
    return;
  }
  SgdConfig sc;
  sc.momentum = cfg.momentum;
  sc.nesterov = cfg.nesterov;
  sc.weight_decay = cfg.weight_decay;
  sc.decay_norm_and_bias = !cfg.no_decay_norm_bias;
  sgd_ = std::make_unique<Sgd>(net, sc);
}

}  // namespace scaledl
