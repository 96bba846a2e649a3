// Built without SCALEDL_CUDA: every cuda kernel throws, naming the op; device memory cannot be
// allocated; pinned host memory is plain aligned memory.
#include <string>

#include "core/allocator.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "ops/ops.h"

namespace scaledl {

bool cuda_supports(std::string_view) { return false; }

namespace {
constexpr const char* kNoCuda =
    "this build has no CUDA backend; rebuild with -DSCALEDL_CUDA=ON (needs nvcc) or use --device cpu";
}

int cuda_device_count() { return 0; }
const char* cuda_unavailable_reason() { return kNoCuda; }
std::string cuda_device_description(int) { return ""; }
std::string cuda_library_versions() { return ""; }
void* device_alloc(size_t, Device device) {
  throw Error("device", device.str() + " is not available: " + kNoCuda);
}
void device_free(void*, Device) noexcept {}
void device_copy(void*, Device, const void*, Device, size_t) { throw Error("device", kNoCuda); }
void device_memset_zero(void*, Device, size_t) { throw Error("device", kNoCuda); }
void device_copy_ahead(void*, Device, const void*, size_t) { throw Error("device", kNoCuda); }
void device_synchronize(Device) { throw Error("device", kNoCuda); }
DeviceMemoryStats device_memory_stats(Device) { return {}; }
void* pinned_alloc(size_t bytes) { return aligned_alloc_bytes(bytes).release(); }
void pinned_free(void* p) noexcept { AlignedFree{}(p); }

namespace cuda {
namespace {
[[noreturn]] void missing(const char* op) {
  throw Error(op, std::string("has no cuda implementation in this build; rebuild with "
                              "-DSCALEDL_CUDA=ON or use --device cpu"));
}
}  // namespace

void conv2d_forward(const Conv2dParams&, const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  missing("conv2d_forward");
}
void conv2d_backward_data(const Conv2dParams&, const Tensor&, const Tensor&, Tensor&) {
  missing("conv2d_backward_data");
}
void conv2d_backward_weights(const Conv2dParams&, const Tensor&, const Tensor&, Tensor&, Tensor&) {
  missing("conv2d_backward_weights");
}
void batchnorm_forward_train(const BatchNormParams&, const Tensor&, const Tensor&, const Tensor&,
                             Tensor&, Tensor&, Tensor&, Tensor&, Tensor&) {
  missing("batchnorm_forward_train");
}
void batchnorm_forward_inference(const BatchNormParams&, const Tensor&, const Tensor&,
                                 const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  missing("batchnorm_forward_inference");
}
void batchnorm_backward(const BatchNormParams&, const Tensor&, const Tensor&, const Tensor&,
                        const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&) {
  missing("batchnorm_backward");
}
void batchnorm_relu_forward_train(const BatchNormParams&, const Tensor&, const Tensor&,
                                  const Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&,
                                  Tensor&) {
  missing("batchnorm_relu_forward_train");
}
void batchnorm_relu_backward(const BatchNormParams&, const Tensor&, const Tensor&, const Tensor&,
                             const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&,
                             Tensor&, Tensor&) {
  missing("batchnorm_relu_backward");
}
void relu_forward(const Tensor&, Tensor&) { missing("relu_forward"); }
void relu_backward(const Tensor&, const Tensor&, Tensor&) { missing("relu_backward"); }
void maxpool2d_forward(const Pool2dParams&, const Tensor&, Tensor&, Tensor&) {
  missing("maxpool2d_forward");
}
void maxpool2d_backward(const Pool2dParams&, const Tensor&, const Tensor&, const Tensor&,
                        const Tensor&, Tensor&) {
  missing("maxpool2d_backward");
}
void avgpool2d_forward(const Pool2dParams&, const Tensor&, Tensor&) { missing("avgpool2d_forward"); }
void avgpool2d_backward(const Pool2dParams&, const Tensor&, Tensor&) {
  missing("avgpool2d_backward");
}
void global_avgpool_forward(const Tensor&, Tensor&) { missing("global_avgpool_forward"); }
void global_avgpool_backward(const Tensor&, Tensor&) { missing("global_avgpool_backward"); }
void linear_forward(const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  missing("linear_forward");
}
void linear_backward_data(const Tensor&, const Tensor&, Tensor&) { missing("linear_backward_data"); }
void linear_backward_weights(const Tensor&, const Tensor&, Tensor&, Tensor&) {
  missing("linear_backward_weights");
}
void softmax_cross_entropy(const Tensor&, const Tensor&, float, Tensor&, Tensor&) {
  missing("softmax_cross_entropy");
}
void add(const Tensor&, const Tensor&, Tensor&) { missing("add"); }
void dropout_forward(float, uint64_t, const Tensor&, Tensor&, Tensor&) {
  missing("dropout_forward");
}
void dropout_backward(float, const Tensor&, const Tensor&, Tensor&) { missing("dropout_backward"); }
void concat_channels(const std::vector<Tensor>&, Tensor&) { missing("concat_channels"); }
void split_channels(const Tensor&, std::vector<Tensor>&) { missing("split_channels"); }
void reorder(const Tensor&, Tensor&) { missing("reorder"); }
void cast(const Tensor&, Tensor&, float) { missing("cast"); }
bool all_finite(const Tensor&) { missing("all_finite"); }
void sgd_update(const SgdParams&, Tensor&, const Tensor&, Tensor&) { missing("sgd_update"); }
void sgd_update_masked(const SgdParams&, Tensor&, const Tensor&, Tensor&, const Tensor&) {
  missing("sgd_update_masked");
}

}  // namespace cuda
}  // namespace scaledl
