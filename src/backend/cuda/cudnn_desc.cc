// cuDNN descriptor wrappers.
#include "backend/cuda/cudnn_desc.h"

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/runtime.h"
#include "ops/ops.h"

namespace scaledl::cuda {

namespace {
cudnnTensorFormat_t format(Layout l) {
  return l == Layout::nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
}
int i32(int64_t v) { return static_cast<int>(v); }
}  // namespace

TensorDesc::TensorDesc(const TensorDesc& x, cudnnBatchNormMode_t mode) {
  SDL_CUDNN(cudnnCreateTensorDescriptor(&d_));
  SDL_CUDNN(cudnnDeriveBNTensorDescriptor(d_, x.get(), mode));
}

TensorDesc::TensorDesc(const Tensor& t) {
  SDL_CUDNN(cudnnCreateTensorDescriptor(&d_));
  if (t.ndim() == 4)
    SDL_CUDNN(cudnnSetTensor4dDescriptor(d_, format(t.layout()), cudnn_dtype(t.dtype()),
                                         i32(t.dim(0)), i32(t.dim(1)), i32(t.dim(2)),
                                         i32(t.dim(3))));
  else
    SDL_CUDNN(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, cudnn_dtype(t.dtype()), 1,
                                         i32(t.numel()), 1, 1));
}

TensorDesc::~TensorDesc() { cudnnDestroyTensorDescriptor(d_); }

FilterDesc::FilterDesc(const Tensor& w) {
  SDL_CUDNN(cudnnCreateFilterDescriptor(&d_));
  SDL_CUDNN(cudnnSetFilter4dDescriptor(d_, cudnn_dtype(w.dtype()), format(w.layout()),
                                       i32(w.dim(0)), i32(w.dim(1)), i32(w.dim(2)),
                                       i32(w.dim(3))));
}

FilterDesc::~FilterDesc() { cudnnDestroyFilterDescriptor(d_); }

ConvDesc::ConvDesc(const Conv2dParams& p, DType dtype) {
  SDL_CUDNN(cudnnCreateConvolutionDescriptor(&d_));
  // Half and bfloat16 accumulate in f32 (as PyTorch's autocast convolutions).
  SDL_CUDNN(cudnnSetConvolution2dDescriptor(d_, p.pad_h, p.pad_w, p.stride_h, p.stride_w,
                                            p.dil_h, p.dil_w, CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT));
  if (p.groups > 1) SDL_CUDNN(cudnnSetConvolutionGroupCount(d_, p.groups));
  // fp32: exact FMA math unless tf32 is allowed; f16/bf16: tensor cores.
  const cudnnMathType_t math = dtype != DType::f32 ? CUDNN_TENSOR_OP_MATH
                               : allow_tf32()      ? CUDNN_DEFAULT_MATH
                                                   : CUDNN_FMA_MATH;
  SDL_CUDNN(cudnnSetConvolutionMathType(d_, math));
}

ConvDesc::~ConvDesc() { cudnnDestroyConvolutionDescriptor(d_); }

}  // namespace scaledl::cuda
