// Host launchers of the .cu kernels that other cuda files share (linear and conv biases, batch
// norm's statistics conversion). All run on the device's compute stream.
#pragma once
#include "core/tensor.h"

namespace scaledl::cuda {

// y[n, m] += b[m] for y [N, M] (y's dtype, b f32 or y's dtype).
void bias_add_rows(const Tensor& b, Tensor& y);
// db[m] = sum_n dy[n, m].
void bias_grad_rows(const Tensor& dy, Tensor& db);
// y[n, c, h, w] += b[c] for 4-D y in either layout; db[c] = sum over n, h, w of dy.
void bias_add_channels(const Tensor& b, Tensor& y);
void bias_grad_channels(const Tensor& dy, Tensor& db);
// save_var (f32 [C]) from cuDNN's saved inverse standard deviation, and back.
void invstd_to_var(const Tensor& invstd, float eps, Tensor& var);
void var_to_invstd(const Tensor& var, float eps, Tensor& invstd);

}  // namespace scaledl::cuda
