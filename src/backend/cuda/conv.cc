// Convolutions through cuDNN: forward, backward data, backward weights (+ bias). The algorithm
// is found once per (direction, shapes, dtype, layout, math) by cudnnFind*AlgorithmEx on the
// real buffers and cached. Weights may lie in either layout: when it differs from the
// activations' (parameters are kept plain, KCRS), they are reordered into a scratch copy in
// the activations' layout (KRSC for nhwc, which cuDNN's tensor-core kernels want). Biases use
// own kernels (any dtype; cuDNN's legacy bias calls are deprecated and unclear on bf16).
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/cudnn_desc.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/launch.h"
#include "backend/cuda/runtime.h"
#include "ops/ops.h"

namespace scaledl::cuda {

namespace {

constexpr size_t kFindWorkspace = size_t{512} << 20;  // algorithms may use up to this much

enum class Dir { fwd, bwd_data, bwd_filter };

using Key =
    std::tuple<int, int, std::vector<int64_t>, int, int, int, int, int, int, int, int, int, int>;

Key key_of(Dir d, const Conv2dParams& p, const Tensor& x, const Tensor& w) {
  Shape s = x.shape();
  s.insert(s.end(), w.shape().begin(), w.shape().end());
  return {static_cast<int>(d),
          x.device().index,
          s,
          p.stride_h,
          p.stride_w,
          p.pad_h,
          p.pad_w,
          p.dil_h,
          p.dil_w,
          p.groups,
          static_cast<int>(x.dtype()),
          static_cast<int>(x.layout()),
          allow_tf32() ? 1 : 0};
}

struct Choice {
  int algo = 0;
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // the math Find timed the algorithm with
};

std::mutex g_mu;
std::map<Key, Choice>& cache() {
  static std::map<Key, Choice> c;
  return c;
}

// The cached choice for `key`; `find()` runs (under the lock) the first time.
template <class Find>
Choice cached(const Key& key, Find&& find) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = cache().find(key);
  if (it == cache().end()) it = cache().emplace(key, find()).first;
  return it->second;
}

// The first (fastest) algorithm Find returned that succeeded.
template <class Perf>
Choice pick(const char* op, const Perf* perf, int n) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS)
      return {static_cast<int>(perf[i].algo), perf[i].memory, perf[i].mathType};
  throw Error(op, "cuDNN found no algorithm for this convolution");
}

// Shapes, layouts and one device for all were validated before dispatch (ops/validate.cc);
// what is this backend's own: the activations' dtype on a CUDA device (weights and the
// y side share it), and a bias, when present, in that dtype too.
void check_conv(const char* op, const Tensor& x, const Tensor& b, const char* b_name) {
  require_cuda_float(op, "input", x);
  SDL_REQUIRE(!b.defined() || b.dtype() == x.dtype(), op,
              std::string(b_name) + " must be " + std::string(dtype_name(x.dtype())) +
                  " like the activations, got " + describe(b));
}

// w in the activations' layout (a reordered scratch copy when it is not).
Tensor filter_in(const Tensor& w, Layout layout) {
  if (w.layout() == layout) return w;
  Tensor t = Tensor::empty(w.shape(), w.dtype(), w.device(), layout);
  ops::reorder(w, t);
  return t;
}

const float kOne = 1.f, kZero = 0.f;

}  // namespace

void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w_in, const Tensor& b,
                    Tensor& y) {
  const char* op = "conv2d_forward";
  check_conv(op, x, b, "bias");
  Context& c = context(y.device());
  const Tensor w = filter_in(w_in, x.layout());
  TensorDesc xd(x), yd(y);
  FilterDesc wd(w);
  ConvDesc cd(p, x.dtype());
  const Choice ch = cached(key_of(Dir::fwd, p, x, w), [&] {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    SDL_CUDNN(cudnnFindConvolutionForwardAlgorithmEx(
        c.cudnn, xd.get(), x.raw(), wd.get(), w.raw(), cd.get(), yd.get(), y.raw(),
        CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, workspace(y.device(), kFindWorkspace),
        kFindWorkspace));
    return pick(op, perf, n);
  });
  SDL_CUDNN(cudnnSetConvolutionMathType(cd.get(), ch.math));
  SDL_CUDNN(cudnnConvolutionForward(c.cudnn, &kOne, xd.get(), x.raw(), wd.get(), w.raw(), cd.get(),
                                    static_cast<cudnnConvolutionFwdAlgo_t>(ch.algo),
                                    workspace(y.device(), ch.workspace), ch.workspace, &kZero,
                                    yd.get(), y.raw()));
  if (b.defined()) bias_add_channels(b, y);
}

void conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w_in, Tensor& dx) {
  const char* op = "conv2d_backward_data";
  check_conv(op, dx, Tensor(), "");
  Context& c = context(dx.device());
  const Tensor w = filter_in(w_in, dx.layout());
  TensorDesc dxd(dx), dyd(dy);
  FilterDesc wd(w);
  ConvDesc cd(p, dx.dtype());
  const Choice ch = cached(key_of(Dir::bwd_data, p, dx, w), [&] {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    SDL_CUDNN(cudnnFindConvolutionBackwardDataAlgorithmEx(
        c.cudnn, wd.get(), w.raw(), dyd.get(), dy.raw(), cd.get(), dxd.get(), dx.raw(),
        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, workspace(dx.device(), kFindWorkspace),
        kFindWorkspace));
    return pick(op, perf, n);
  });
  SDL_CUDNN(cudnnSetConvolutionMathType(cd.get(), ch.math));
  SDL_CUDNN(cudnnConvolutionBackwardData(
      c.cudnn, &kOne, wd.get(), w.raw(), dyd.get(), dy.raw(), cd.get(),
      static_cast<cudnnConvolutionBwdDataAlgo_t>(ch.algo), workspace(dx.device(), ch.workspace),
      ch.workspace, &kZero, dxd.get(), dx.raw()));
}

void conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy,
                             Tensor& dw_out, Tensor& db) {
  const char* op = "conv2d_backward_weights";
  check_conv(op, x, db, "bias gradient");
  Context& c = context(dw_out.device());
  // cuDNN writes the gradient in the activations' layout; reorder afterwards if needed.
  Tensor dw = dw_out.layout() == x.layout()
                  ? dw_out
                  : Tensor::empty(dw_out.shape(), dw_out.dtype(), dw_out.device(), x.layout());
  TensorDesc xd(x), dyd(dy);
  FilterDesc wd(dw);
  ConvDesc cd(p, x.dtype());
  const Choice ch = cached(key_of(Dir::bwd_filter, p, x, dw), [&] {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    SDL_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        c.cudnn, xd.get(), x.raw(), dyd.get(), dy.raw(), cd.get(), wd.get(), dw.raw(),
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf, workspace(dw.device(), kFindWorkspace),
        kFindWorkspace));
    return pick(op, perf, n);
  });
  SDL_CUDNN(cudnnSetConvolutionMathType(cd.get(), ch.math));
  SDL_CUDNN(cudnnConvolutionBackwardFilter(
      c.cudnn, &kOne, xd.get(), x.raw(), dyd.get(), dy.raw(), cd.get(),
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(ch.algo), workspace(dw.device(), ch.workspace),
      ch.workspace, &kZero, wd.get(), dw.raw()));
  if (dw.raw() != dw_out.raw()) ops::reorder(dw, dw_out);
  if (db.defined()) bias_grad_channels(dy, db);
}

}  // namespace scaledl::cuda
