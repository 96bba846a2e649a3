// RAII cuDNN descriptors built from Tensors: 4-D tensors in their layout (nchw or nhwc), conv
// filters in a given format, convolution descriptors; and the math mode for a dtype.
#pragma once
#include <cudnn.h>

#include "core/tensor.h"
#include "ops/params.h"

namespace scaledl::cuda {

class TensorDesc {
 public:
  // A 4-D tensor, or a [C] vector described as [1,C,1,1] (bias, batch-norm parameters).
  explicit TensorDesc(const Tensor& t);
  // The [1,C,1,1] statistics descriptor cuDNN derives from x's for batch norm (f32 for
  // f16/bf16 x).
  TensorDesc(const TensorDesc& x, cudnnBatchNormMode_t mode);
  ~TensorDesc();
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

class FilterDesc {
 public:
  // w [O, C/groups, KH, KW] stored in `w.layout()` (nchw = KCRS, nhwc = KRSC).
  explicit FilterDesc(const Tensor& w);
  ~FilterDesc();
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

class ConvDesc {
 public:
  ConvDesc(const Conv2dParams& p, DType dtype);
  ~ConvDesc();
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  cudnnConvolutionDescriptor_t get() const { return d_; }

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

}  // namespace scaledl::cuda
