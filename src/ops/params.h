// Parameter structs of the ops, shared by every backend.
#pragma once
#include <cstdint>

namespace scaledl {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;  // symmetric zero padding
  int dil_h = 1, dil_w = 1;  // 1 = no dilation (PyTorch convention)
  int groups = 1;
};

struct BatchNormParams {
  float eps = 1e-5f;
  float momentum = 0.1f;  // running = (1 - momentum) * running + momentum * batch (PyTorch)
};

struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool ceil_mode = false;          // output size rounds up (GoogLeNet's pools)
  bool count_include_pad = true;   // average pooling: divide by the full window
};

struct SgdParams {
  float lr = 0.1f;
  float momentum = 0.9f;
  float weight_decay = 0.f;
  bool nesterov = false;
  float grad_scale = 1.f;  // gradients are multiplied by this first (loss-scale unscaling)
};

// Output extent of a convolution or pooling along one axis.
int64_t conv_out_size(int64_t in, int kernel, int stride, int pad, int dil);
int64_t pool_out_size(int64_t in, int kernel, int stride, int pad, bool ceil_mode);

}  // namespace scaledl
