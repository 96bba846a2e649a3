// Dispatch of each op to the backend chosen for its tensors' device.
#include "ops/ops.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <iterator>
#include <map>
#include <string>
#include <utility>

#include "core/error.h"
#include "ops/validate.h"

namespace scaledl {

namespace {
thread_local Backend t_cpu_backend = Backend::cpu;

#define SDL_OP(ret, name, device, how, params, args) #name,
constexpr std::string_view kOps[] = {
#include "ops/op_table.inc"
};
#undef SDL_OP
// Per op (kOps' order): whether the host backends take f16/bf16 tensors themselves.
#define SDL_OP(ret, name, device, how, params, args) std::string_view(#how) == "native",
constexpr bool kHalfNative[] = {
#include "ops/op_table.inc"
};
#undef SDL_OP
static_assert(std::size(kHalfNative) == std::size(kOps));
std::atomic<bool> g_allow_tf32{false};
}  // namespace

void set_allow_tf32(bool allow) {
  g_allow_tf32 = allow;
}
bool allow_tf32() {
  return g_allow_tf32;
}

std::string_view backend_name(Backend b) {
  switch (b) {
    case Backend::reference:
      return "reference";
    case Backend::cpu:
      return "cpu";
    case Backend::cuda:
      return "cuda";
  }
  return "?";
}

Backend backend_for(Device device) {
  return device.is_cpu() ? t_cpu_backend : Backend::cuda;
}

// The cuda backend answers for itself (backend/cuda); without it no op is supported there.
bool cuda_supports(std::string_view op);
// Whether the cpu backend runs `op` on bf16 tensors itself: oneDNN's bf16 primitives, on a CPU
// with avx512_bf16 or AMX (backend/cpu/dnnl_common.cc).
bool cpu_native_bf16(std::string_view op);

namespace {
std::atomic<bool> g_native_bf16{true};
}  // namespace

void set_native_bf16(bool on) {
  g_native_bf16 = on;
}

Support support(std::string_view op, Backend backend, DType dtype) {
  if (!supports(op, backend)) return Support::none;
  if (dtype == DType::f32) return Support::native;
  if (dtype != DType::f16 && dtype != DType::bf16) return Support::none;
  if (backend == Backend::cuda) return Support::native;
  const size_t i = static_cast<size_t>(std::find(std::begin(kOps), std::end(kOps), op) - kOps);
  if (kHalfNative[i]) return Support::native;
  if (backend == Backend::cpu && dtype == DType::bf16 && g_native_bf16 && cpu_native_bf16(op))
    return Support::native;
  return Support::emulated;
}

std::vector<std::string_view> op_names() {
  return {std::begin(kOps), std::end(kOps)};
}

bool supports(std::string_view op, Backend backend) {
  if (std::find(std::begin(kOps), std::end(kOps), op) == std::end(kOps)) return false;
  return backend == Backend::cuda ? cuda_supports(op) : true;
}

ScopedBackend::ScopedBackend(Backend b) : saved_(t_cpu_backend) {
  t_cpu_backend = b;
}
ScopedBackend::~ScopedBackend() {
  t_cpu_backend = saved_;
}

// Whether `pred` holds for a tensor among an op's arguments (a tensor or a list of them; other
// arguments hold none).
template <class P, class A>
bool any_tensor(const P&, const A&) {
  return false;
}
template <class P>
bool any_tensor(const P& pred, const Tensor& t) {
  return pred(t);
}
template <class P>
bool any_tensor(const P& pred, const std::vector<Tensor>& v) {
  return std::any_of(v.begin(), v.end(), pred);
}

// f16/bf16 tensors on the host backends (emulated mixed precision): every half argument is
// widened to an f32 copy, the f32 kernel runs, and each half output is rounded back. The math
// is f32 as on the GPU's tensor cores; each op's output carries the dtype's rounding.
class Emulation {
 public:
  static bool half(const Tensor& t) {
    return t.defined() && (t.dtype() == DType::f16 || t.dtype() == DType::bf16);
  }

  template <class A>
  A& arg(A& a) {
    return a;
  }
  const Tensor& arg(const Tensor& t) { return half(t) ? widen(t, true) : t; }
  // A half Tensor& is a pure output (in-out tensors, such as running statistics, are f32):
  // its old contents are not converted.
  Tensor& arg(Tensor& t) {
    if (!half(t)) return t;
    Tensor& f = widen(t, false);
    back_.emplace_back(&f, &t);
    return f;
  }
  const std::vector<Tensor>& arg(const std::vector<Tensor>& v) {
    lists_.emplace_back();
    for (const Tensor& t : v) lists_.back().push_back(arg(t));
    return lists_.back();
  }
  std::vector<Tensor>& arg(std::vector<Tensor>& v) {
    lists_.emplace_back();
    for (Tensor& t : v) lists_.back().push_back(arg(t));  // shares the widened storage
    return lists_.back();
  }
  // Rounds the f32 results into the half outputs.
  void finish() {
    for (auto [f, h] : back_) ref::cast(*f, *h, 1.f);
  }
  Emulation() = default;
  Emulation(const Emulation&) = delete;
  Emulation& operator=(const Emulation&) = delete;
  ~Emulation() {
    for (Tensor& f : taken_) pool().emplace(f.numel(), std::move(f));
  }

 private:
  // Widened copies come from a per-thread pool: a training step asks for the same sizes every
  // time, and fresh multi-megabyte allocations (page faults) cost more than the conversion.
  static std::multimap<int64_t, Tensor>& pool() {
    thread_local std::multimap<int64_t, Tensor> p;
    return p;
  }
  Tensor& widen(const Tensor& t, bool convert) {
    auto it = pool().find(t.numel());
    if (it != pool().end()) {
      taken_.push_back(std::move(it->second));
      pool().erase(it);
    } else {
      taken_.push_back(Tensor::empty({t.numel()}));
    }
    keep_.push_back(taken_.back().view(t.shape(), 0).with_layout(t.layout()));
    if (convert) ref::cast(t, keep_.back(), 1.f);
    return keep_.back();
  }
  std::vector<Tensor> taken_;  // the pool's flat buffers, returned on destruction
  std::deque<Tensor> keep_;    // stable addresses for the references handed out
  std::deque<std::vector<Tensor>> lists_;
  std::vector<std::pair<Tensor*, Tensor*>> back_;
};

template <class F, class... A>
void emulated(F&& fn, A&... a) {
  Emulation em;
  fn(em.arg(a)...);
  em.finish();
}

template <class... A>
bool any_half(const A&... a) {
  return (any_tensor(Emulation::half, a) || ...);
}

// Whether the cpu backend takes this call's half tensors itself: all of them bf16, and the op
// one that it runs natively in bf16 on this CPU.
template <class... A>
bool cpu_takes_half(std::string_view op, const A&... a) {
  const auto f16 = [](const Tensor& t) { return t.defined() && t.dtype() == DType::f16; };
  return g_native_bf16 && !(any_tensor(f16, a) || ...) && cpu_native_bf16(op);
}

// The body of an entry point: the backend for `device`'s device in this thread runs `fn`.
// `emulated`: the host backends widen f16/bf16 arguments to f32 (unless the cpu backend takes
// the call's bf16 itself); `native`: every backend takes the half dtypes itself.
#define SDL_DISPATCH_emulated(device, fn, ...)                            \
  do {                                                                    \
    switch (backend_for(device)) {                                        \
      case Backend::reference:                                            \
        if (any_half(__VA_ARGS__)) return emulated(ref::fn, __VA_ARGS__); \
        return ref::fn(__VA_ARGS__);                                      \
      case Backend::cpu:                                                  \
        if (any_half(__VA_ARGS__) && !cpu_takes_half(#fn, __VA_ARGS__))   \
          return emulated(cpu::fn, __VA_ARGS__);                          \
        return cpu::fn(__VA_ARGS__);                                      \
      case Backend::cuda:                                                 \
        return cuda::fn(__VA_ARGS__);                                     \
    }                                                                     \
    throw Error(#fn, "no such backend");                                  \
  } while (0)

#define SDL_DISPATCH_native(device, fn, ...) \
  do {                                       \
    switch (backend_for(device)) {           \
      case Backend::reference:               \
        return ref::fn(__VA_ARGS__);         \
      case Backend::cpu:                     \
        return cpu::fn(__VA_ARGS__);         \
      case Backend::cuda:                    \
        return cuda::fn(__VA_ARGS__);        \
    }                                        \
    throw Error(#fn, "no such backend");     \
  } while (0)

#define SDL_UNPAREN(...) __VA_ARGS__

// The entry points, one per entry of the table: the arguments are checked once (validate.h),
// then the backend runs.
#define SDL_OP(ret, name, dev, how, params, args)             \
  ret name params {                                           \
    validate::name(SDL_UNPAREN args);                         \
    SDL_DISPATCH_##how(dev.device(), name, SDL_UNPAREN args); \
  }
namespace ops {
#include "ops/op_table.inc"
}  // namespace ops
#undef SDL_OP

}  // namespace scaledl
