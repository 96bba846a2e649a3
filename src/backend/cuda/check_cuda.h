// SDL_CUDA, SDL_CUDNN, SDL_CUBLAS: run a library call and turn a failure into scaledl::Error
// naming the call, file:line and the rank (core/error.h's throw_check_failure).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/error.h"

#define SDL_CUDA(call)                                                                 \
  do {                                                                                 \
    const cudaError_t sdl_cuda_rc_ = (call);                                           \
    if (sdl_cuda_rc_ != cudaSuccess)                                                   \
      ::scaledl::throw_check_failure("CUDA", #call, cudaGetErrorString(sdl_cuda_rc_), \
                                     __FILE__, __LINE__);                              \
  } while (0)

#define SDL_CUDNN(call)                                                                   \
  do {                                                                                    \
    const cudnnStatus_t sdl_cudnn_rc_ = (call);                                           \
    if (sdl_cudnn_rc_ != CUDNN_STATUS_SUCCESS)                                            \
      ::scaledl::throw_check_failure("cuDNN", #call, cudnnGetErrorString(sdl_cudnn_rc_), \
                                     __FILE__, __LINE__);                                 \
  } while (0)

#define SDL_CUBLAS(call)                                                                     \
  do {                                                                                       \
    const cublasStatus_t sdl_cublas_rc_ = (call);                                            \
    if (sdl_cublas_rc_ != CUBLAS_STATUS_SUCCESS)                                             \
      ::scaledl::throw_check_failure("cuBLAS", #call, cublasGetStatusString(sdl_cublas_rc_), \
                                     __FILE__, __LINE__);                                    \
  } while (0)
