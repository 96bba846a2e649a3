// SGD: one masked sgd_update over the flat parameter buffer.
#include "optim/sgd.h"

#include <algorithm>

#include "ops/ops.h"

namespace scaledl {

Sgd::Sgd(Net& net, SgdConfig config) : net_(net), config_(config) {
  flat_momentum_ = Tensor::zeros(net.flat_params().shape(), DType::f32, net.flat_params().device());
  Tensor mask = Tensor::empty(net.flat_params().shape(), DType::u8);
  int64_t offset = 0;
  for (const NetParam& p : net.params()) {
    state_.emplace_back("momentum." + p.name, flat_momentum_.view(p.value.shape(), offset));
    const bool decay = !(p.is_norm_or_bias && !config_.decay_norm_and_bias);
    std::fill_n(mask.data<uint8_t>() + offset, p.value.numel(), decay ? 1 : 0);
    offset += p.value.numel();
  }
  decay_mask_ = mask.to(net.flat_params().device());
}

void Sgd::step(float lr, float grad_scale) {
  SgdParams sp;
  sp.lr = lr;
  sp.momentum = config_.momentum;
  sp.nesterov = config_.nesterov;
  sp.grad_scale = grad_scale;
  sp.weight_decay = config_.weight_decay;
  Tensor params = net_.flat_params();
  ops::sgd_update_masked(sp, params, net_.flat_grads(), flat_momentum_, decay_mask_);
}

}  // namespace scaledl
