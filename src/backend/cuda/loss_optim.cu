// Softmax cross-entropy with label smoothing, the SGD update (one launch over a whole flat
// buffer in the masked form), and the
// all-finite check of the loss-scale overflow test.
#include <string>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/runtime.h"
#include "ops/ops.h"

namespace scaledl::cuda {

namespace {

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One warp per row: the row's loss goes to row_loss[n]; dlogits (when given) = (p - t) / N.
template <class T>
__global__ void softmax_ce_k(const T* z, const int* labels, float s, long long N, long long K,
                             float* row_loss, T* dz) {
  const long long n = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (n >= N) return;
  const int y = labels[n];
  if (y < 0 || y >= K) {  // the whole warp leaves: the loss is NaN and the trainer stops
    if (lane == 0) row_loss[n] = NAN;
    return;
  }
  const T* row = z + n * K;
  float zmax = -INFINITY;
  for (long long k = lane; k < K; k += 32) zmax = fmaxf(zmax, load(row, k));
  zmax = warp_max(zmax);
  float sum_exp = 0.f, sum_z = 0.f;
  for (long long k = lane; k < K; k += 32) {
    const float v = load(row, k);
    sum_exp += expf(v - zmax);
    sum_z += v;
  }
  sum_exp = warp_sum(sum_exp);
  sum_z = warp_sum(sum_z);
  const float lse = zmax + logf(sum_exp);
  const float zy = load(row, y);
  if (lane == 0) {
    // -sum_k t_k (z_k - lse) with t = (1 - s) onehot + s / K.
    row_loss[n] = -((1.f - s) * (zy - lse) + s / static_cast<float>(K) * (sum_z - K * lse));
  }
  if (dz) {
    const float invN = 1.f / static_cast<float>(N);
    for (long long k = lane; k < K; k += 32) {
      const float t = (k == y ? 1.f - s : 0.f) + s / static_cast<float>(K);
      store(dz + n * K, k, (expf(load(row, k) - lse) - t) * invN);
    }
  }
}

// One block: loss[0] = mean of row_loss (fixed order: the same sum every run).
__global__ void mean_k(const float* v, long long n, float* out) {
  __shared__ float part[256];
  float s = 0.f;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = part[0] / static_cast<float>(n);
}

// mask null: decay everywhere.
__global__ void sgd_k(float lr, float momentum, float wd, bool nesterov, float grad_scale, float* w,
                      const float* grad, float* m, const unsigned char* mask, long long n) {
  SDL_GRID_STRIDE(i, n) {
    const float g = grad[i] * grad_scale + (!mask || mask[i] ? wd * w[i] : 0.f);
    const float mi = momentum * m[i] + g;
    m[i] = mi;
    w[i] -= lr * (nesterov ? g + momentum * mi : mi);
  }
}

template <class T>
__global__ void nonfinite_k(const T* x, long long n, int* flag) {
  SDL_GRID_STRIDE(i, n)
  if (!isfinite(load(x, i))) {
    *flag = 1;
    return;
  }
}

}  // namespace

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float smoothing,
                           Tensor& loss, Tensor& dlogits) {
  const char* op = "softmax_cross_entropy";
  require_cuda_float(op, "logits", logits);  // shapes validated before dispatch
  const long long N = logits.dim(0), K = logits.dim(1);
  cudaStream_t st = context(logits.device()).stream;
  float* rows = static_cast<float*>(workspace(logits.device(), N * sizeof(float)));
  with_float_type(logits.dtype(), op, [&](auto t) {
    using T = decltype(t);
    const unsigned warps = 8;
    softmax_ce_k<<<static_cast<unsigned>((N + warps - 1) / warps), warps * 32, 0, st>>>(
        static_cast<const T*>(logits.raw()), labels.data<int>(), smoothing, N, K, rows,
        dlogits.defined() ? static_cast<T*>(dlogits.raw()) : nullptr);
  });
  mean_k<<<1, 256, 0, st>>>(rows, N, loss.data<float>());
  SDL_CUDA(cudaGetLastError());
}

namespace {
void sgd(const char* op, const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum,
         const unsigned char* mask) {
  // Tensors validated before dispatch (ops/validate.cc); this backend always keeps momentum.
  SDL_REQUIRE(!param.device().is_cpu(), op,
              "parameter must be a cuda tensor, got " + describe(param));
  require_defined(op, "momentum", momentum);
  const long long n = param.numel();
  sgd_k<<<grid_for(n), 256, 0, context(param.device()).stream>>>(
      p.lr, p.momentum, p.weight_decay, p.nesterov, p.grad_scale, param.data<float>(),
      grad.data<float>(), momentum.data<float>(), mask, n);
  SDL_CUDA(cudaGetLastError());
}
}  // namespace

void sgd_update(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum) {
  sgd("sgd_update", p, param, grad, momentum, nullptr);
}

void sgd_update_masked(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum,
                       const Tensor& decay_mask) {
  sgd("sgd_update_masked", p, param, grad, momentum,
      static_cast<const unsigned char*>(decay_mask.raw()));
}

bool all_finite(const Tensor& x) {
  const char* op = "all_finite";
  require_cuda_float(op, "input", x);
  cudaStream_t st = context(x.device()).stream;
  int* flag = static_cast<int*>(workspace(x.device(), sizeof(int)));
  SDL_CUDA(cudaMemsetAsync(flag, 0, sizeof(int), st));
  const long long n = x.numel();
  with_float_type(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    nonfinite_k<<<grid_for(n), 256, 0, st>>>(static_cast<const T*>(x.raw()), n, flag);
  });
  SDL_CUDA(cudaGetLastError());
  int host = 0;
  SDL_CUDA(cudaMemcpyAsync(&host, flag, sizeof host, cudaMemcpyDeviceToHost, st));
  SDL_CUDA(cudaStreamSynchronize(st));
  return host == 0;
}

}  // namespace scaledl::cuda
