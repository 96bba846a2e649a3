// Backward passes of 1x1 convolutions on nhwc activations as oneDNN matrix products, where that
// is faster than oneDNN's convolution kernels (dnnl_conv_pointwise.cc says where and by how much).
#pragma once
#include "core/tensor.h"
#include "ops/params.h"

namespace scaledl::cpu {

// Whether the backward pass (`weights`: backward weights, else backward data) of this
// convolution runs as a matrix product: 1x1, any stride, no padding, dilation, groups or bias,
// nhwc, and a dtype where the product is the faster.
bool pointwise_backward(const Conv2dParams& p, const Tensor& x, const Tensor& w, bool weights,
                        bool bias);
void pointwise_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx);
void pointwise_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy,
                                Tensor& dw);

}  // namespace scaledl::cpu
