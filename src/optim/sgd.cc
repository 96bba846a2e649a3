// SGD: one sgd_update op per parameter view, with that parameter's weight decay.
#include "optim/sgd.h"

#include "ops/ops.h"

namespace scaledl {

Sgd::Sgd(Net& net, SgdConfig config) : net_(net), config_(config) {
  flat_momentum_ = Tensor::zeros(net.flat_params().shape(), DType::f32, net.flat_params().device());
  int64_t offset = 0;
  for (const NetParam& p : net.params()) {
    state_.emplace_back("momentum." + p.name, flat_momentum_.view(p.value.shape(), offset));
    offset += p.value.numel();
  }
}

void Sgd::step(float lr, float grad_scale) {
  SgdParams sp;
  sp.lr = lr;
  sp.momentum = config_.momentum;
  sp.nesterov = config_.nesterov;
  sp.grad_scale = grad_scale;
  const auto& params = net_.params();
  for (size_t i = 0; i < params.size(); ++i) {
    const NetParam& p = params[i];
    sp.weight_decay =
        p.is_norm_or_bias && !config_.decay_norm_and_bias ? 0.f : config_.weight_decay;
    Tensor value = p.value;
    ops::sgd_update(sp, value, p.grad, state_[i].second);
  }
}

}  // namespace scaledl
