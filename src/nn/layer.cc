// Layer base: binding of parameter views, default FLOP count.
#include "nn/layer.h"

namespace scaledl {

int64_t Layer::flops(const std::vector<Shape>&, const Shape&) const { return 0; }

void Layer::bind(std::vector<Tensor> params, std::vector<Tensor> grads,
                 std::vector<Tensor> buffers) {
  params_ = std::move(params);
  grads_ = std::move(grads);
  buffers_ = std::move(buffers);
}

}  // namespace scaledl
