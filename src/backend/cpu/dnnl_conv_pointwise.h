// Backward passes of 1x1 convolutions on nhwc activations as oneDNN matrix products, faster
// than oneDNN 2.6's convolution kernels (dnnl_conv_pointwise.cc says by how much).
#pragma once
#include "core/tensor.h"
#include "ops/params.h"

namespace scaledl::cpu {

// Whether the backward passes of this convolution run as matrix products: 1x1, any stride, no
// padding, dilation, groups or bias (`bias`: the call has one), nhwc activations x.
bool pointwise_backward(const Conv2dParams& p, const Tensor& x, const Tensor& w, bool bias);
void pointwise_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx);
void pointwise_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy,
                                Tensor& dw);

}  // namespace scaledl::cpu
