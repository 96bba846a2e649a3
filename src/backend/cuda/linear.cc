// Linear layers through cuBLAS (cublasGemmEx, f32 accumulation; TF32 when allowed for f32,
// tensor cores for f16/bf16). Row-major [N,K] x [M,K]^T is computed as the column-major
// product of the transposes.
#include <string>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/launch.h"
#include "backend/cuda/runtime.h"
#include "ops/ops.h"

namespace scaledl::cuda {

namespace {

const float kOne = 1.f, kZero = 0.f;

cublasComputeType_t compute_for(DType t) {
  return t == DType::f32 && allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

// C (m x n, ldc) = op(A) op(B), column-major, all of dtype t.
void gemm(Device d, DType t, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
          int64_t k, const void* a, int64_t lda, const void* b, int64_t ldb, void* c, int64_t ldc) {
  const cudaDataType_t ct = cuda_dtype(t);
  SDL_CUBLAS(cublasGemmEx(context(d).cublas, ta, tb, static_cast<int>(m), static_cast<int>(n),
                          static_cast<int>(k), &kOne, a, ct, static_cast<int>(lda), b, ct,
                          static_cast<int>(ldb), &kZero, c, ct, static_cast<int>(ldc),
                          compute_for(t), CUBLAS_GEMM_DEFAULT));
}

// Shapes and one device for all were validated before dispatch (ops/validate.cc); a bias
// (or its gradient) may be f32 or the activations' dtype.
void check_bias(const char* op, const char* name, const Tensor& b, const Tensor& like) {
  SDL_REQUIRE(!b.defined() || b.dtype() == like.dtype() || b.dtype() == DType::f32, op,
              std::string(name) + " must be " + std::string(dtype_name(like.dtype())) +
                  " or f32, got " + describe(b));
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const char* op = "linear_forward";
  require_cuda_float(op, "input", x);
  check_bias(op, "bias", b, y);
  const int64_t N = x.dim(0), K = x.dim(1), M = w.dim(0);
  gemm(y.device(), x.dtype(), CUBLAS_OP_T, CUBLAS_OP_N, M, N, K, w.raw(), K, x.raw(), K, y.raw(),
       M);
  if (b.defined()) bias_add_rows(b, y);
}

void linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const char* op = "linear_backward_data";
  require_cuda_float(op, "output gradient", dy);
  const int64_t N = dy.dim(0), M = dy.dim(1), K = w.dim(1);
  gemm(dx.device(), dy.dtype(), CUBLAS_OP_N, CUBLAS_OP_N, K, N, M, w.raw(), K, dy.raw(), M,
       dx.raw(), K);
}

void linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  const char* op = "linear_backward_weights";
  require_cuda_float(op, "input", x);
  check_bias(op, "bias gradient", db, dy);
  const int64_t N = x.dim(0), K = x.dim(1), M = dy.dim(1);
  gemm(dw.device(), x.dtype(), CUBLAS_OP_N, CUBLAS_OP_T, K, M, N, x.raw(), K, dy.raw(), M, dw.raw(),
       K);
  if (db.defined()) bias_grad_rows(dy, db);
}

}  // namespace scaledl::cuda
