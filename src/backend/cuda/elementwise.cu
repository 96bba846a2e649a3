// Elementwise and data-movement kernels: relu, add, dropout (the reference's hash mask), cast,
// reorder, channel concat/split, global average pooling, bias rows, batch-norm statistics
// conversion. Math is f32 whatever the element type.
#include <string>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/launch.h"
#include "backend/cuda/runtime.h"
#include "ops/ops.h"

namespace scaledl::cuda {

namespace {

cudaStream_t stream_of(const Tensor& t) {
  return context(t.device()).stream;
}

template <class T>
__global__ void relu_fwd_k(const T* x, T* y, long long n) {
  SDL_GRID_STRIDE(i, n) {
    const float v = load(x, i);
    store(y, i, (v > 0.f || v != v) ? v : 0.f);
  }
}

template <class T>
__global__ void relu_bwd_k(const T* y, const T* dy, T* dx, long long n) {
  SDL_GRID_STRIDE(i, n) store(dx, i, load(y, i) > 0.f ? load(dy, i) : 0.f);
}

template <class T>
__global__ void add_k(const T* a, const T* b, T* y, long long n) {
  SDL_GRID_STRIDE(i, n) store(y, i, load(a, i) + load(b, i));
}

__device__ __forceinline__ unsigned long long mix64(unsigned long long x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// core/rng's hash_words(seed, i) and bits_to_unit: the mask equals the reference's.
template <class T>
__global__ void dropout_fwd_k(float p, unsigned long long seed, const T* x, T* y,
                              unsigned char* mask, long long n) {
  SDL_GRID_STRIDE(i, n) {
    const unsigned long long h =
        mix64(mix64(mix64(mix64(seed) ^ static_cast<unsigned long long>(i)) ^ 0ull) ^ 0ull);
    const float u = static_cast<float>(h >> 40) * 0x1.0p-24f;
    const unsigned char keep = u >= p ? 1 : 0;
    mask[i] = keep;
    store(y, i, keep ? load(x, i) / (1.f - p) : 0.f);
  }
}

template <class T>
__global__ void dropout_bwd_k(float p, const unsigned char* mask, const T* dy, T* dx, long long n) {
  SDL_GRID_STRIDE(i, n) store(dx, i, mask[i] ? load(dy, i) / (1.f - p) : 0.f);
}

template <class S, class D>
__global__ void cast_k(const S* x, D* y, float scale, long long n) {
  SDL_GRID_STRIDE(i, n) store(y, i, load(x, i) * scale);
}

template <class T>
__global__ void reorder_k(const T* x, T* y, bool x_nhwc, bool y_nhwc, long long N, long long C,
                          long long H, long long W) {
  const long long total = N * C * H * W;
  SDL_GRID_STRIDE(i, total) {
    // i walks y's memory order (coalesced writes).
    long long n, c, h, w;
    split4(y_nhwc, i, C, H, W, n, c, h, w);
    y[i] = x[off4(x_nhwc, n, c, h, w, C, H, W)];
  }
}

// Copies part `xs` ([N,Cx,H,W]) to or from channels [c0, c0+Cx) of `y` ([N,Cy,H,W]).
template <class T>
__global__ void channel_slice_k(T* part, T* whole, bool to_whole, bool nhwc, long long N,
                                long long Cx, long long Cy, long long c0, long long H,
                                long long W) {
  const long long total = N * Cx * H * W;
  SDL_GRID_STRIDE(i, total) {
    long long n, c, h, w;
    split4(nhwc, i, Cx, H, W, n, c, h, w);
    const long long o = off4(nhwc, n, c0 + c, h, w, Cy, H, W);
    if (to_whole)
      whole[o] = part[i];
    else
      part[i] = whole[o];
  }
}

template <class T>
__global__ void gap_fwd_k(const T* x, T* y, bool nhwc, long long N, long long C, long long H,
                          long long W) {
  SDL_GRID_STRIDE(i, N * C) {
    const long long n = i / C, c = i % C;
    float sum = 0.f;
    for (long long h = 0; h < H; ++h)
      for (long long w = 0; w < W; ++w) sum += load(x, off4(nhwc, n, c, h, w, C, H, W));
    store(y, i, sum / static_cast<float>(H * W));
  }
}

template <class T>
__global__ void gap_bwd_k(const T* dy, T* dx, bool nhwc, long long N, long long C, long long H,
                          long long W) {
  const float inv = 1.f / static_cast<float>(H * W);
  SDL_GRID_STRIDE(i, N * C * H * W) {
    long long n, c, r = i;
    if (nhwc) {
      c = r % C, n = r / (C * H * W);
    } else {
      c = (r / (H * W)) % C, n = r / (C * H * W);
    }
    store(dx, i, load(dy, n * C + c) * inv);
  }
}

template <class T, class B>
__global__ void bias_add_k(const B* b, T* y, long long N, long long M) {
  SDL_GRID_STRIDE(i, N * M) store(y, i, load(y, i) + load(b, i % M));
}

template <class T, class B>
__global__ void bias_grad_k(const T* dy, B* db, long long N, long long M) {
  SDL_GRID_STRIDE(m, M) {
    float s = 0.f;
    for (long long n = 0; n < N; ++n) s += load(dy, n * M + m);
    store(db, m, s);
  }
}

template <class T, class B>
__global__ void bias_add_channels_k(const B* b, T* y, bool nhwc, long long C, long long HW,
                                    long long total) {
  SDL_GRID_STRIDE(i, total) store(y, i, load(y, i) + load(b, nhwc ? i % C : (i / HW) % C));
}

// One block per channel: its threads stride over the channel's N*H*W elements, then reduce.
template <class T, class B>
__global__ void bias_grad_channels_k(const T* dy, B* db, bool nhwc, long long N, long long C,
                                     long long HW) {
  __shared__ float part[256];
  const long long c = blockIdx.x;
  float s = 0.f;
  for (long long j = threadIdx.x; j < N * HW; j += blockDim.x) {
    const long long n = j / HW, p = j % HW;
    s += load(dy, nhwc ? (n * HW + p) * C + c : (n * C + c) * HW + p);
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) store(db, c, part[0]);
}

__global__ void invstd_to_var_k(const float* inv, float eps, float* var, long long n) {
  SDL_GRID_STRIDE(i, n) var[i] = fmaxf(1.f / (inv[i] * inv[i]) - eps, 0.f);
}

__global__ void var_to_invstd_k(const float* var, float eps, float* inv, long long n) {
  SDL_GRID_STRIDE(i, n) inv[i] = rsqrtf(var[i] + eps);
}

}  // namespace

void relu_forward(const Tensor& x, Tensor& y) {
  const char* op = "relu_forward";
  require_cuda_float(op, "input", x);
  const long long n = x.numel();
  with_float_type(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    relu_fwd_k<<<grid_for(n), 256, 0, stream_of(y)>>>(ptr<T>(x), ptr<T>(y), n);
  });
  SDL_CUDA(cudaGetLastError());
}

void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  const char* op = "relu_backward";
  require_cuda_float(op, "output", y);
  const long long n = y.numel();
  with_float_type(y.dtype(), op, [&](auto t) {
    using T = decltype(t);
    relu_bwd_k<<<grid_for(n), 256, 0, stream_of(dx)>>>(ptr<T>(y), ptr<T>(dy), ptr<T>(dx), n);
  });
  SDL_CUDA(cudaGetLastError());
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
  const char* op = "add";
  require_cuda_float(op, "a", a);
  const long long n = a.numel();
  with_float_type(a.dtype(), op, [&](auto t) {
    using T = decltype(t);
    add_k<<<grid_for(n), 256, 0, stream_of(y)>>>(ptr<T>(a), ptr<T>(b), ptr<T>(y), n);
  });
  SDL_CUDA(cudaGetLastError());
}

void dropout_forward(float p, uint64_t seed, const Tensor& x, Tensor& y, Tensor& mask) {
  const char* op = "dropout_forward";
  require_cuda_float(op, "input", x);
  if (!mask.defined()) mask = Tensor::empty(x.shape(), DType::u8, x.device(), x.layout());
  const long long n = x.numel();
  with_float_type(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    dropout_fwd_k<<<grid_for(n), 256, 0, stream_of(y)>>>(p, seed, ptr<T>(x), ptr<T>(y),
                                                         ptr<unsigned char>(mask), n);
  });
  SDL_CUDA(cudaGetLastError());
}

void dropout_backward(float p, const Tensor& mask, const Tensor& dy, Tensor& dx) {
  const char* op = "dropout_backward";
  require_cuda_float(op, "output gradient", dy);
  const long long n = dy.numel();
  with_float_type(dy.dtype(), op, [&](auto t) {
    using T = decltype(t);
    dropout_bwd_k<<<grid_for(n), 256, 0, stream_of(dx)>>>(p, ptr<unsigned char>(mask), ptr<T>(dy),
                                                          ptr<T>(dx), n);
  });
  SDL_CUDA(cudaGetLastError());
}

void cast(const Tensor& x, Tensor& y, float scale) {
  const char* op = "cast";
  require_cuda_float(op, "input", x);
  const long long n = x.numel();
  with_float_type(x.dtype(), op, [&](auto s) {
    with_float_type(y.dtype(), op, [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      cast_k<<<grid_for(n), 256, 0, stream_of(y)>>>(ptr<S>(x), ptr<D>(y), scale, n);
    });
  });
  SDL_CUDA(cudaGetLastError());
}

void reorder(const Tensor& x, Tensor& y) {
  const char* op = "reorder";
  require_cuda_float(op, "input", x);
  if (x.ndim() != 4 || x.layout() == y.layout()) {
    y.copy_from(x);
    return;
  }
  const long long N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  with_float_type(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    reorder_k<<<grid_for(N * C * H * W), 256, 0, stream_of(y)>>>(
        ptr<T>(x), ptr<T>(y), x.layout() == Layout::nhwc, y.layout() == Layout::nhwc, N, C, H, W);
  });
  SDL_CUDA(cudaGetLastError());
}

namespace {
void channel_slices(const char* op, std::vector<Tensor>& xs, const Tensor& y, bool to_whole) {
  require_cuda_float(op, "concatenation", y);  // the parts validated before dispatch
  long long c0 = 0;
  for (Tensor& x : xs) {
    const long long N = x.dim(0), Cx = x.dim(1), H = x.dim(2), W = x.dim(3);
    with_float_type(y.dtype(), op, [&](auto t) {
      using T = decltype(t);
      channel_slice_k<<<grid_for(N * Cx * H * W), 256, 0, stream_of(y)>>>(
          ptr<T>(x), ptr<T>(y), to_whole, y.layout() == Layout::nhwc, N, Cx, y.dim(1), c0, H, W);
    });
    SDL_CUDA(cudaGetLastError());
    c0 += Cx;
  }
}
}  // namespace

void concat_channels(const std::vector<Tensor>& xs, Tensor& y) {
  std::vector<Tensor> parts = xs;
  channel_slices("concat_channels", parts, y, true);
}

void split_channels(const Tensor& y, std::vector<Tensor>& xs) {
  channel_slices("split_channels", xs, y, false);
}

void global_avgpool_forward(const Tensor& x, Tensor& y) {
  const char* op = "global_avgpool_forward";
  require_cuda_float(op, "input", x);  // shapes validated before dispatch
  const long long N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  with_float_type(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    gap_fwd_k<<<grid_for(N * C), 256, 0, stream_of(y)>>>(ptr<T>(x), ptr<T>(y),
                                                         x.layout() == Layout::nhwc, N, C, H, W);
  });
  SDL_CUDA(cudaGetLastError());
}

void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  const char* op = "global_avgpool_backward";
  require_cuda_float(op, "input gradient", dx);  // shapes validated before dispatch
  const long long N = dx.dim(0), C = dx.dim(1), H = dx.dim(2), W = dx.dim(3);
  with_float_type(dx.dtype(), op, [&](auto t) {
    using T = decltype(t);
    gap_bwd_k<<<grid_for(N * C * H * W), 256, 0, stream_of(dx)>>>(
        ptr<T>(dy), ptr<T>(dx), dx.layout() == Layout::nhwc, N, C, H, W);
  });
  SDL_CUDA(cudaGetLastError());
}

void bias_add_rows(const Tensor& b, Tensor& y) {
  const char* op = "linear_forward";
  const long long N = y.dim(0), M = y.dim(1);
  with_float_type(y.dtype(), op, [&](auto t) {
    with_float_type(b.dtype(), op, [&](auto bt) {
      using T = decltype(t);
      using B = decltype(bt);
      bias_add_k<<<grid_for(N * M), 256, 0, stream_of(y)>>>(ptr<B>(b), ptr<T>(y), N, M);
    });
  });
  SDL_CUDA(cudaGetLastError());
}

void bias_grad_rows(const Tensor& dy, Tensor& db) {
  const char* op = "linear_backward_weights";
  const long long N = dy.dim(0), M = dy.dim(1);
  with_float_type(dy.dtype(), op, [&](auto t) {
    with_float_type(db.dtype(), op, [&](auto bt) {
      using T = decltype(t);
      using B = decltype(bt);
      bias_grad_k<<<grid_for(M), 256, 0, stream_of(db)>>>(ptr<T>(dy), ptr<B>(db), N, M);
    });
  });
  SDL_CUDA(cudaGetLastError());
}

void bias_add_channels(const Tensor& b, Tensor& y) {
  const char* op = "conv2d_forward";
  const long long C = y.dim(1), HW = y.dim(2) * y.dim(3), total = y.numel();
  with_float_type(y.dtype(), op, [&](auto t) {
    with_float_type(b.dtype(), op, [&](auto bt) {
      using T = decltype(t);
      using B = decltype(bt);
      bias_add_channels_k<<<grid_for(total), 256, 0, stream_of(y)>>>(
          ptr<B>(b), ptr<T>(y), y.layout() == Layout::nhwc, C, HW, total);
    });
  });
  SDL_CUDA(cudaGetLastError());
}

void bias_grad_channels(const Tensor& dy, Tensor& db) {
  const char* op = "conv2d_backward_weights";
  const long long N = dy.dim(0), C = dy.dim(1), HW = dy.dim(2) * dy.dim(3);
  with_float_type(dy.dtype(), op, [&](auto t) {
    with_float_type(db.dtype(), op, [&](auto bt) {
      using T = decltype(t);
      using B = decltype(bt);
      bias_grad_channels_k<<<static_cast<unsigned>(C), 256, 0, stream_of(db)>>>(
          ptr<T>(dy), ptr<B>(db), dy.layout() == Layout::nhwc, N, C, HW);
    });
  });
  SDL_CUDA(cudaGetLastError());
}

void invstd_to_var(const Tensor& invstd, float eps, Tensor& var) {
  const long long n = var.numel();
  invstd_to_var_k<<<grid_for(n), 256, 0, stream_of(var)>>>(ptr<float>(invstd), eps, ptr<float>(var),
                                                           n);
  SDL_CUDA(cudaGetLastError());
}

void var_to_invstd(const Tensor& var, float eps, Tensor& invstd) {
  const long long n = var.numel();
  var_to_invstd_k<<<grid_for(n), 256, 0, stream_of(var)>>>(ptr<float>(var), eps, ptr<float>(invstd),
                                                           n);
  SDL_CUDA(cudaGetLastError());
}

}  // namespace scaledl::cuda
