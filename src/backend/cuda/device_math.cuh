// Device-side helpers of the .cu kernels: f32/f16/bf16 loads and stores (math is in f32),
// the dtype switch that instantiates a kernel per element type, 4-D offsets, and the
// argument checks shared by the cuda ops.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "core/tensor.h"
#include "ops/checks.h"

namespace scaledl::cuda {

__device__ __forceinline__ float load(const float* p, long long i) {
  return p[i];
}
__device__ __forceinline__ float load(const __half* p, long long i) {
  return __half2float(p[i]);
}
__device__ __forceinline__ float load(const __nv_bfloat16* p, long long i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ void store(float* p, long long i, float v) {
  p[i] = v;
}
__device__ __forceinline__ void store(__half* p, long long i, float v) {
  p[i] = __float2half_rn(v);
}
__device__ __forceinline__ void store(__nv_bfloat16* p, long long i, float v) {
  p[i] = __float2bfloat16_rn(v);
}

__host__ __device__ __forceinline__ long long off4(bool nhwc, long long n, long long c, long long h,
                                                   long long w, long long C, long long H,
                                                   long long W) {
  return nhwc ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w;
}

// for (long long i = ...; i < n; ...): a grid-stride loop over n elements.
#define SDL_GRID_STRIDE(i, n)                                                   \
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
       i += (long long)blockDim.x * gridDim.x)

// Logical (n, c, h, w) of memory element i of a 4-D [N,C,H,W] tensor (off4's inverse).
__host__ __device__ __forceinline__ void split4(bool nhwc, long long i, long long C, long long H,
                                                long long W, long long& n, long long& c,
                                                long long& h, long long& w) {
  long long r = i;
  if (nhwc) {
    c = r % C, r /= C, w = r % W, r /= W, h = r % H, n = r / H;
  } else {
    w = r % W, r /= W, h = r % H, r /= H, c = r % C, n = r / C;
  }
}

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw());
}

// Runs f(T{}) with T the element type of dtype t (f32, f16, bf16); throws for others.
template <class F>
void with_float_type(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32:
      f(float{});
      return;
    case DType::f16:
      f(__half{});
      return;
    case DType::bf16:
      f(__nv_bfloat16{});
      return;
    default:
      throw Error(op, "needs an f32, f16 or bf16 tensor on the cuda backend, got " +
                          std::string(dtype_name(t)));
  }
}

// A defined f32/f16/bf16 tensor on a cuda device.
inline void require_cuda_float(const char* op, const char* name, const Tensor& t) {
  SDL_REQUIRE(t.defined() && !t.device().is_cpu() &&
                  (t.dtype() == DType::f32 || t.dtype() == DType::f16 || t.dtype() == DType::bf16),
              op,
              std::string(name) + " must be an f32, f16 or bf16 cuda tensor, got " + describe(t));
}

}  // namespace scaledl::cuda
