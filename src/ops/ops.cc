// Dispatch of each op to the backend chosen for its tensors' device.
#include "ops/ops.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <string>
#include <utility>

#include "core/error.h"

namespace scaledl {

namespace {
thread_local Backend t_cpu_backend = Backend::cpu;

constexpr std::string_view kOps[] = {"conv2d_forward",
                                     "conv2d_backward_data",
                                     "conv2d_backward_weights",
                                     "batchnorm_forward_train",
                                     "batchnorm_forward_inference",
                                     "batchnorm_backward",
                                     "batchnorm_relu_forward_train",
                                     "batchnorm_relu_backward",
                                     "relu_forward",
                                     "relu_backward",
                                     "maxpool2d_forward",
                                     "maxpool2d_backward",
                                     "avgpool2d_forward",
                                     "avgpool2d_backward",
                                     "global_avgpool_forward",
                                     "global_avgpool_backward",
                                     "linear_forward",
                                     "linear_backward_data",
                                     "linear_backward_weights",
                                     "softmax_cross_entropy",
                                     "add",
                                     "dropout_forward",
                                     "dropout_backward",
                                     "concat_channels",
                                     "split_channels",
                                     "reorder",
                                     "cast",
                                     "all_finite",
                                     "sgd_update",
                                     "sgd_update_masked"};
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
  if (op == "cast" || op == "all_finite") return Support::native;
  if (backend == Backend::cpu && dtype == DType::bf16 && g_native_bf16 && cpu_native_bf16(op))
    return Support::native;
  return Support::emulated;
}

std::vector<std::string_view> op_names() {
  return {std::begin(kOps), std::end(kOps)};
}

std::string_view support_name(Support s) {
  switch (s) {
    case Support::none:
      return "none";
    case Support::native:
      return "native";
    case Support::emulated:
      return "emulated";
  }
  return "?";
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

// f16/bf16 tensors on the host backends (emulated mixed precision): every half argument is
// widened to an f32 copy, the f32 kernel runs, and each half output is rounded back. The math
// is f32 as on the GPU's tensor cores; each op's output carries the dtype's rounding.
class Emulation {
 public:
  static bool half(const Tensor& t) {
    return t.defined() && (t.dtype() == DType::f16 || t.dtype() == DType::bf16);
  }
  template <class A>
  static bool any(const A&) {
    return false;
  }
  static bool any(const Tensor& t) { return half(t); }
  static bool any(const std::vector<Tensor>& v) {
    return std::any_of(v.begin(), v.end(), [](const Tensor& t) { return half(t); });
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
  return (Emulation::any(a) || ...);
}

// Whether the cpu backend takes this call's half tensors itself: all of them bf16, and the op
// one that it runs natively in bf16 on this CPU.
bool is_f16(const Tensor& t) {
  return t.defined() && t.dtype() == DType::f16;
}
template <class A>
bool any_f16(const A&) {
  return false;
}
bool any_f16(const Tensor& t) {
  return is_f16(t);
}
bool any_f16(const std::vector<Tensor>& v) {
  return std::any_of(v.begin(), v.end(), is_f16);
}
template <class... A>
bool cpu_takes_half(std::string_view op, const A&... a) {
  return g_native_bf16 && !(any_f16(a) || ...) && cpu_native_bf16(op);
}

#define SDL_DISPATCH(device, fn, ...)                                     \
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
  } while (0)

// cast and all_finite take half tensors natively on every backend.
#define SDL_DISPATCH_NATIVE(device, fn, ...) \
  do {                                       \
    switch (backend_for(device)) {           \
      case Backend::reference:               \
        return ref::fn(__VA_ARGS__);         \
      case Backend::cpu:                     \
        return cpu::fn(__VA_ARGS__);         \
      case Backend::cuda:                    \
        return cuda::fn(__VA_ARGS__);        \
    }                                        \
  } while (0)

namespace ops {

void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& b,
                    Tensor& y) {
  SDL_DISPATCH(y.device(), conv2d_forward, p, x, w, b, y);
}
void conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  SDL_DISPATCH(dx.device(), conv2d_backward_data, p, dy, w, dx);
}
void conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor& db) {
  SDL_DISPATCH(dw.device(), conv2d_backward_weights, p, x, dy, dw, db);
}
void batchnorm_forward_train(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, Tensor& y, Tensor& save_mean, Tensor& save_var,
                             Tensor& running_mean, Tensor& running_var) {
  SDL_DISPATCH(y.device(), batchnorm_forward_train, p, x, gamma, beta, y, save_mean, save_var,
               running_mean, running_var);
}
void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, Tensor& y) {
  SDL_DISPATCH(y.device(), batchnorm_forward_inference, p, x, gamma, beta, running_mean,
               running_var, y);
}
void batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                        const Tensor& gamma, const Tensor& save_mean, const Tensor& save_var,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  SDL_DISPATCH(dx.device(), batchnorm_backward, p, x, dy, gamma, save_mean, save_var, dx, dgamma,
               dbeta);
}
void batchnorm_relu_forward_train(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, Tensor& y, Tensor& save_mean,
                                  Tensor& save_var, Tensor& running_mean, Tensor& running_var,
                                  Tensor& workspace) {
  SDL_DISPATCH(y.device(), batchnorm_relu_forward_train, p, x, gamma, beta, y, save_mean, save_var,
               running_mean, running_var, workspace);
}
void batchnorm_relu_backward(const BatchNormParams& p, const Tensor& x, const Tensor& y,
                             const Tensor& workspace, const Tensor& dy, const Tensor& gamma,
                             const Tensor& save_mean, const Tensor& save_var, Tensor& dx,
                             Tensor& dgamma, Tensor& dbeta) {
  SDL_DISPATCH(dx.device(), batchnorm_relu_backward, p, x, y, workspace, dy, gamma, save_mean,
               save_var, dx, dgamma, dbeta);
}
void relu_forward(const Tensor& x, Tensor& y) {
  SDL_DISPATCH(y.device(), relu_forward, x, y);
}
void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  SDL_DISPATCH(dx.device(), relu_backward, y, dy, dx);
}
void maxpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y, Tensor& workspace) {
  SDL_DISPATCH(y.device(), maxpool2d_forward, p, x, y, workspace);
}
void maxpool2d_backward(const Pool2dParams& p, const Tensor& x, const Tensor& y,
                        const Tensor& workspace, const Tensor& dy, Tensor& dx) {
  SDL_DISPATCH(dx.device(), maxpool2d_backward, p, x, y, workspace, dy, dx);
}
void avgpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y) {
  SDL_DISPATCH(y.device(), avgpool2d_forward, p, x, y);
}
void avgpool2d_backward(const Pool2dParams& p, const Tensor& dy, Tensor& dx) {
  SDL_DISPATCH(dx.device(), avgpool2d_backward, p, dy, dx);
}
void global_avgpool_forward(const Tensor& x, Tensor& y) {
  SDL_DISPATCH(y.device(), global_avgpool_forward, x, y);
}
void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  SDL_DISPATCH(dx.device(), global_avgpool_backward, dy, dx);
}
void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  SDL_DISPATCH(y.device(), linear_forward, x, w, b, y);
}
void linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  SDL_DISPATCH(dx.device(), linear_backward_data, dy, w, dx);
}
void linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  SDL_DISPATCH(dw.device(), linear_backward_weights, x, dy, dw, db);
}
void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float smoothing,
                           Tensor& loss, Tensor& dlogits) {
  SDL_DISPATCH(loss.device(), softmax_cross_entropy, logits, labels, smoothing, loss, dlogits);
}
void add(const Tensor& a, const Tensor& b, Tensor& y) {
  SDL_DISPATCH(y.device(), add, a, b, y);
}
void dropout_forward(float p, uint64_t seed, const Tensor& x, Tensor& y, Tensor& mask) {
  SDL_DISPATCH(y.device(), dropout_forward, p, seed, x, y, mask);
}
void dropout_backward(float p, const Tensor& mask, const Tensor& dy, Tensor& dx) {
  SDL_DISPATCH(dx.device(), dropout_backward, p, mask, dy, dx);
}
void concat_channels(const std::vector<Tensor>& xs, Tensor& y) {
  SDL_DISPATCH(y.device(), concat_channels, xs, y);
}
void split_channels(const Tensor& y, std::vector<Tensor>& xs) {
  SDL_DISPATCH(y.device(), split_channels, y, xs);
}
void reorder(const Tensor& x, Tensor& y) {
  SDL_DISPATCH(y.device(), reorder, x, y);
}
void cast(const Tensor& x, Tensor& y, float scale) {
  SDL_DISPATCH_NATIVE(y.device(), cast, x, y, scale);
}
bool all_finite(const Tensor& x) {
  SDL_DISPATCH_NATIVE(x.device(), all_finite, x);
  return false;  // not reached: every backend returns above
}
void sgd_update(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum) {
  SDL_DISPATCH(param.device(), sgd_update, p, param, grad, momentum);
}
void sgd_update_masked(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum,
                       const Tensor& decay_mask) {
  SDL_DISPATCH(param.device(), sgd_update_masked, p, param, grad, momentum, decay_mask);
}

}  // namespace ops

}  // namespace scaledl
