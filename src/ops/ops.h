// The ops: one public entry point per kernel, dispatched to the backend that runs it.
//
// Backends: `cpu` (oneDNN primitives, the default on cpu tensors), `reference` (plain loops,
// the ground truth the consistency tests compare every backend against), `cuda`. A backend
// that lacks an op answers supports() == false and throws "[op] has no <backend> implementation".
// The host backends take f16/bf16 tensors by emulation: f32 math, each half output rounded
// (numerics checks of mixed precision without a GPU; no speed-up), except where the cpu
// backend runs an op in bf16 itself (oneDNN's bf16 primitives on a CPU with avx512_bf16 or
// AMX): support() says which.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "ops/params.h"

namespace scaledl {

enum class Backend { reference, cpu, cuda };
std::string_view backend_name(Backend b);

// The backend that runs ops on `device` in this thread.
Backend backend_for(Device device);
bool supports(std::string_view op, Backend backend);

// How `backend` runs `op` on `dtype` tensors (the activations' dtype): itself, by emulation
// (f32 kernels on widened copies, half outputs rounded), or not at all.
enum class Support { none, native, emulated };
Support support(std::string_view op, Backend backend, DType dtype);
// Every op's name, in the order of ops/op_table.inc.
std::vector<std::string_view> op_names();
// Off: the cpu backend emulates bf16 even where it could run it natively (comparisons and
// benchmarks of the two). Process-wide; on by default.
void set_native_bf16(bool on);

// While alive, ops on cpu tensors in this thread run on `backend` (tests use `reference`).
class ScopedBackend {
 public:
  explicit ScopedBackend(Backend b);
  ~ScopedBackend();
  ScopedBackend(const ScopedBackend&) = delete;
  ScopedBackend& operator=(const ScopedBackend&) = delete;

 private:
  Backend saved_;
};

// fp32 convolutions and matrix products may use TF32 tensor cores (--precision tf32); off by
// default (exact fp32). Process-wide; read by the cuda backend.
void set_allow_tf32(bool allow);
bool allow_tf32();

// Every op of ops/op_table.inc, declared in scaledl::ops (the entry points, which dispatch) and
// in each backend's namespace (which define them all).
#define SDL_OP(ret, name, device, how, params, args) ret name params;
namespace ops {
#include "ops/op_table.inc"
}  // namespace ops

namespace ref {
#include "ops/op_table.inc"
}  // namespace ref

namespace cpu {
#include "ops/op_table.inc"
}  // namespace cpu

namespace cuda {
#include "ops/op_table.inc"
}  // namespace cuda
#undef SDL_OP

}  // namespace scaledl
