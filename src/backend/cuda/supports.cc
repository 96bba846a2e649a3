// The cuda backend implements every op of ops/op_table.inc except the fused batch norm + ReLU
// (the Net runs the two ops there).
#include <string_view>

namespace scaledl {
bool cuda_supports(std::string_view op) {
  return op != "batchnorm_relu_forward_train" && op != "batchnorm_relu_backward";
}
}  // namespace scaledl
