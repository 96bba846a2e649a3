// The CUDA runtime of the backend: per device, one compute stream with its cuDNN and cuBLAS
// handles, a growing workspace, and the caching allocator behind device_alloc. Every op of a
// device runs on its compute stream, in call order, so memory freed to the cache may be reused
// by the next op without synchronizing. The allocator does not track streams: work on other
// streams (copies ahead, NCCL) uses only buffers that outlive it and orders itself against
// the compute stream with events in both directions.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>

#include "core/device.h"
#include "core/dtype.h"

namespace scaledl::cuda {

struct Context {
  int device = 0;
  cudaStream_t stream = nullptr;
  cudaStream_t copy_stream = nullptr;  // host -> device copies ahead of the compute stream
  cudaEvent_t copied = nullptr;        // recorded on copy_stream after each such copy
  cudaEvent_t consumed = nullptr;      // recorded on stream at each copy ahead: what it queued
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
};

// The context of `device`, created on first use; makes it the calling thread's current device.
Context& context(Device device);
// Scratch memory of at least `bytes` on the device's stream (valid until the next call).
void* workspace(Device device, size_t bytes);

cudaDataType_t cuda_dtype(DType t);   // f32, f16, bf16
cudnnDataType_t cudnn_dtype(DType t);

// Threads and blocks for a grid-stride loop over n elements.
inline unsigned grid_for(long long n, unsigned block = 256) {
  long long g = (n + block - 1) / block;
  return static_cast<unsigned>(g < 1 ? 1 : (g > 65535LL * 8 ? 65535LL * 8 : g));
}

}  // namespace scaledl::cuda
