// Built without SCALEDL_CUDA: every cuda kernel throws, naming the op; device memory cannot be
// allocated; pinned host memory is plain aligned memory.
#include <string>
#include <tuple>

#include "core/allocator.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "ops/ops.h"

namespace scaledl {

bool cuda_supports(std::string_view) {
  return false;
}

namespace {
constexpr const char* kNoCuda =
    "this build has no CUDA backend; rebuild with -DSCALEDL_CUDA=ON (needs nvcc) or use --device "
    "cpu";
}

int cuda_device_count() {
  return 0;
}
const char* cuda_unavailable_reason() {
  return kNoCuda;
}
std::string cuda_device_description(int) {
  return "";
}
std::string cuda_library_versions() {
  return "";
}
void* device_alloc(size_t, Device device) {
  throw Error("device", device.str() + " is not available: " + kNoCuda);
}
void device_free(void*, Device) noexcept {}
void device_copy(void*, Device, const void*, Device, size_t) {
  throw Error("device", kNoCuda);
}
void device_memset_zero(void*, Device, size_t) {
  throw Error("device", kNoCuda);
}
void device_copy_ahead(void*, Device, const void*, size_t) {
  throw Error("device", kNoCuda);
}
void device_synchronize(Device) {
  throw Error("device", kNoCuda);
}
DeviceMemoryStats device_memory_stats(Device) {
  return {};
}
void* pinned_alloc(size_t bytes) {
  return aligned_alloc_bytes(bytes).release();
}
void pinned_free(void* p) noexcept {
  AlignedFree{}(p);
}

namespace cuda {
namespace {
[[noreturn]] void missing(const char* op) {
  throw Error(op, std::string("has no cuda implementation in this build; rebuild with "
                              "-DSCALEDL_CUDA=ON or use --device cpu"));
}
}  // namespace

// Every op of the table, throwing (its arguments are only named).
#define SDL_OP(ret, name, device, how, params, args) \
  ret name params {                                  \
    (void)std::forward_as_tuple args;                \
    missing(#name);                                  \
  }
#include "ops/op_table.inc"
#undef SDL_OP

}  // namespace cuda
}  // namespace scaledl
