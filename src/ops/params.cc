// Output extents of windows (ops/params.h): plain arithmetic, shared by the graph's shape
// inference and every backend, and linked alone by the fuzz build.
#include "ops/params.h"

namespace scaledl {

int64_t conv_out_size(int64_t in, int kernel, int stride, int pad, int dil) {
  int64_t span = in + 2 * pad - dil * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;  // 0: the window does not fit
}

int64_t pool_out_size(int64_t in, int kernel, int stride, int pad, bool ceil_mode) {
  int64_t span = in + 2 * pad - kernel;
  if (span < 0) return 0;  // the window does not fit
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // PyTorch: the last window must start inside the input or left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

}  // namespace scaledl
