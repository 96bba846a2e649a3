// Batch normalization: oneDNN batch_normalization (forward training/inference and backward,
// with separate scale and shift) for nhwc and [N,C]; per-channel OpenMP loops for 4-D nchw,
// where oneDNN 2.6 has only its slow reference kernel; the PyTorch-style running statistics
// update. Activations f32 or bf16 (oneDNN's kernels; statistics and affine parameters f32).
// Batch norm + ReLU: oneDNN's fuse_norm_relu both ways (its workspace is the ReLU
// mask); on the plane loops the ReLU is folded into the forward.
#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cpu/dnnl_common.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;
using dnnl::memory;
using dnnl::normalization_flags;

namespace {

const normalization_flags kAffine = normalization_flags::use_scale | normalization_flags::use_shift;

// Shapes are validated before dispatch (ops/validate.cc): x [N,C,H,W] in either layout, y-like
// tensors matching it, f32 [C] statistics and affine parameters. This backend runs x in f32 or
// bf16; returns C.
int64_t check_bn_data(const char* op, const Tensor& x) {
  require_float(op, "x", x);
  return x.dim(1);
}

memory::desc chan_md(int64_t c) {
  return memory::desc({c}, dt::f32, tag::a);
}

std::string bn_key(const char* op, const BatchNormParams& p, const Tensor& x, bool relu = false) {
  return key_of(op, x.shape(), x.layout(), x.dtype(), p.eps, relu);
}

normalization_flags train_flags(bool relu) {
  return relu ? kAffine | normalization_flags::fuse_norm_relu : kAffine;
}

struct BnEntry {
  dnnl::primitive prim;
  memory::desc x_md, c_md, ws_md;
};

PrimitiveCache<BnEntry>& cache() {
  static PrimitiveCache<BnEntry> c;
  return c;
}

dnnl::batch_normalization_forward::primitive_desc train_pd(const memory::desc& x_md, float eps,
                                                           bool relu) {
  dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_training, x_md, eps,
                                            train_flags(relu));
  return dnnl::batch_normalization_forward::primitive_desc(d, engine());
}

// ---- 4-D nchw: one channel's data is N contiguous H*W planes -------------------------------

bool use_plane_loops(const Tensor& x) {
  return x.ndim() == 4 && x.layout() == Layout::nchw && x.dtype() == DType::f32;
}

struct Planes {
  int64_t N, C, HW;
  const float* plane(const float* base, int64_t n, int64_t c) const {
    return base + (n * C + c) * HW;
  }
  float* plane(float* base, int64_t n, int64_t c) const { return base + (n * C + c) * HW; }
};

Planes planes_of(const Tensor& x) {
  return {x.dim(0), x.dim(1), x.dim(2) * x.dim(3)};
}

// Sums over channel c: s1 = sum(a), s2 = sum(a * (b - shift)); float within a plane, double
// across planes.
void channel_sums(const Planes& P, const float* a, const float* b, int64_t c, float shift,
                  double& s1, double& s2) {
  s1 = s2 = 0;
  for (int64_t n = 0; n < P.N; ++n) {
    const float* pa = P.plane(a, n, c);
    const float* pb = P.plane(b, n, c);
    float t1 = 0, t2 = 0;
#pragma omp simd reduction(+ : t1, t2)
    for (int64_t i = 0; i < P.HW; ++i) {
      t1 += pa[i];
      t2 += pa[i] * (pb[i] - shift);
    }
    s1 += t1;
    s2 += t2;
  }
}

// sum((x - mu)^2) over channel c: the variance takes a second pass about the mean (no
// cancellation).
double channel_sq_dev(const Planes& P, const float* x, int64_t c, float mu) {
  double s = 0;
  for (int64_t n = 0; n < P.N; ++n) {
    const float* px = P.plane(x, n, c);
    float t = 0;
#pragma omp simd reduction(+ : t)
    for (int64_t i = 0; i < P.HW; ++i) t += (px[i] - mu) * (px[i] - mu);
    s += t;
  }
  return s;
}

// sum(x) over channel c.
double channel_sum(const Planes& P, const float* x, int64_t c) {
  double s = 0;
  for (int64_t n = 0; n < P.N; ++n) {
    const float* px = P.plane(x, n, c);
    float t = 0;
#pragma omp simd reduction(+ : t)
    for (int64_t i = 0; i < P.HW; ++i) t += px[i];
    s += t;
  }
  return s;
}

// y = x * scale[c] + shift[c] over channel c's planes, then max(0, y) when relu.
void channel_affine(const Planes& P, const float* x, float* y, int64_t c, float scale, float shift,
                    bool relu = false) {
  for (int64_t n = 0; n < P.N; ++n) {
    const float* px = P.plane(x, n, c);
    float* py = P.plane(y, n, c);
    if (relu) {
#pragma omp simd
      for (int64_t i = 0; i < P.HW; ++i) py[i] = std::max(px[i] * scale + shift, 0.f);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < P.HW; ++i) py[i] = px[i] * scale + shift;
    }
  }
}

void nchw_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                        bool relu, Tensor& y, Tensor& save_mean, Tensor& save_var) {
  const Planes P = planes_of(x);
  const double inv_m = 1.0 / static_cast<double>(P.N * P.HW);
  const float *xs = x.data<float>(), *g = gamma.data<float>(), *b = beta.data<float>();
  float *ys = y.data<float>(), *mean = save_mean.data<float>(), *var = save_var.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < P.C; ++c) {
    const float mu = static_cast<float>(channel_sum(P, xs, c) * inv_m);
    const float v = static_cast<float>(channel_sq_dev(P, xs, c, mu) * inv_m);
    mean[c] = mu;
    var[c] = v;
    const float scale = g[c] / std::sqrt(v + eps);
    channel_affine(P, xs, ys, c, scale, b[c] - mu * scale, relu);
  }
}

void nchw_forward_inference(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& mean, const Tensor& var, float eps, Tensor& y) {
  const Planes P = planes_of(x);
  const float *g = gamma.data<float>(), *b = beta.data<float>();
  const float *m = mean.data<float>(), *v = var.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < P.C; ++c) {
    const float scale = g[c] / std::sqrt(v[c] + eps);
    channel_affine(P, x.data<float>(), y.data<float>(), c, scale, b[c] - m[c] * scale);
  }
}

// dbeta = sum dy, dgamma = sum dy * xhat, dx = g / sd * (dy - dbeta / M - xhat * dgamma / M).
// dy may be dx: each channel's planes are read before they are written.
void nchw_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& mean,
                   const Tensor& var, float eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const Planes P = planes_of(x);
  const double inv_m = 1.0 / static_cast<double>(P.N * P.HW);
  const float *xs = x.data<float>(), *d = dy.data<float>(), *g = gamma.data<float>();
  const float *m = mean.data<float>(), *v = var.data<float>();
  float *dxs = dx.data<float>(), *dg = dgamma.data<float>(), *db = dbeta.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < P.C; ++c) {
    double sum_dy, sum_dy_xmu;
    channel_sums(P, d, xs, c, m[c], sum_dy, sum_dy_xmu);
    const float inv_sd = 1.f / std::sqrt(v[c] + eps);
    db[c] = static_cast<float>(sum_dy);
    dg[c] = static_cast<float>(sum_dy_xmu * inv_sd);
    const float k = g[c] * inv_sd;
    const float k_xmu = static_cast<float>(-k * inv_sd * inv_sd * sum_dy_xmu * inv_m);
    const float k0 = static_cast<float>(-k * sum_dy * inv_m);
    const float mu = m[c];
    for (int64_t n = 0; n < P.N; ++n) {
      const float* px = P.plane(xs, n, c);
      const float* pd = P.plane(d, n, c);
      float* pdx = P.plane(dxs, n, c);
#pragma omp simd
      for (int64_t i = 0; i < P.HW; ++i) pdx[i] = k * pd[i] + k_xmu * (px[i] - mu) + k0;
    }
  }
}

// oneDNN's training forward (nhwc, [N,C]); with relu, fuse_norm_relu, whose ReLU mask goes to
// `workspace` (allocated here when it is not this primitive's).
void run_forward_train(const char* op, const BatchNormParams& p, bool relu, const Tensor& x,
                       const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& save_mean,
                       Tensor& save_var, Tensor* workspace) {
  const int64_t C = x.dim(1);
  guarded(op, [&] {
    BnEntry& e = cache().get(bn_key("train", p, x, relu), [&] {
      auto e = std::make_unique<BnEntry>();
      e->x_md = md4(x);
      e->c_md = chan_md(C);
      auto pd = train_pd(e->x_md, p.eps, relu);
      e->ws_md = pd.workspace_desc();
      e->prim = dnnl::batch_normalization_forward(pd);
      return e;
    });
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, mem(e.x_md, x)},          {DNNL_ARG_DST, mem(e.x_md, y)},
        {DNNL_ARG_SCALE, mem(e.c_md, gamma)},    {DNNL_ARG_SHIFT, mem(e.c_md, beta)},
        {DNNL_ARG_MEAN, mem(e.c_md, save_mean)}, {DNNL_ARG_VARIANCE, mem(e.c_md, save_var)}};
    const size_t ws_bytes = e.ws_md.get_size();
    if (relu && ws_bytes > 0) {
      Tensor& ws = *workspace;
      if (!ws.defined() || ws.dtype() != DType::u8 || ws.nbytes() != ws_bytes)
        ws = Tensor::empty({static_cast<int64_t>(ws_bytes)}, DType::u8);
      args.emplace(DNNL_ARG_WORKSPACE, mem(e.ws_md, ws));
    }
    dnnl::stream& s = stream();
    e.prim.execute(s, args);
    s.wait();
  });
}

// PyTorch's running statistics: momentum towards the batch's mean and unbiased variance.
void update_running(const BatchNormParams& p, int64_t n, const Tensor& save_mean,
                    const Tensor& save_var, Tensor& running_mean, Tensor& running_var) {
  const int64_t C = save_mean.numel();
  const float m = p.momentum;
  const float unbias = static_cast<float>(n) / static_cast<float>(n - 1);
  const float* mean = save_mean.data<float>();
  const float* var = save_var.data<float>();
  float* rm = running_mean.data<float>();
  float* rv = running_var.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    rm[c] = (1.f - m) * rm[c] + m * mean[c];
    rv[c] = (1.f - m) * rv[c] + m * var[c] * unbias;
  }
}

// batchnorm_forward_train, and with relu batchnorm_relu_forward_train.
void forward_train(const char* op, const BatchNormParams& p, bool relu, const Tensor& x,
                   const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& save_mean,
                   Tensor& save_var, Tensor& running_mean, Tensor& running_var, Tensor* workspace) {
  const int64_t n = x.numel() / check_bn_data(op, x);
  if (use_plane_loops(x)) {
    nchw_forward_train(x, gamma, beta, p.eps, relu, y, save_mean, save_var);
    if (workspace) *workspace = Tensor();  // backward masks by y
  } else {
    run_forward_train(op, p, relu, x, gamma, beta, y, save_mean, save_var, workspace);
  }
  update_running(p, n, save_mean, save_var, running_mean, running_var);
}

// oneDNN's backward primitive for x's shape (with fuse_norm_relu when relu), cached.
BnEntry& bwd_entry(const BatchNormParams& p, const Tensor& x, bool relu) {
  return cache().get(bn_key("bwd", p, x, relu), [&] {
    auto e = std::make_unique<BnEntry>();
    e->x_md = md4(x);
    e->c_md = chan_md(x.dim(1));
    auto hint = train_pd(e->x_md, p.eps, relu);
    e->ws_md = hint.workspace_desc();
    dnnl::batch_normalization_backward::desc d(dnnl::prop_kind::backward, e->x_md, e->x_md, p.eps,
                                               train_flags(relu));
    e->prim = dnnl::batch_normalization_backward(
        dnnl::batch_normalization_backward::primitive_desc(d, engine(), hint));
    return e;
  });
}

// batchnorm_backward, and with relu batchnorm_relu_backward (dy masked where the forward's
// ReLU output y is 0: by oneDNN's fused kernel when `workspace` is its own, else from y).
void backward(const char* op, const BatchNormParams& p, bool relu, const Tensor& x, const Tensor& y,
              const Tensor& workspace, const Tensor& dy, const Tensor& gamma,
              const Tensor& save_mean, const Tensor& save_var, Tensor& dx, Tensor& dgamma,
              Tensor& dbeta) {
  check_bn_data(op, x);
  if (use_plane_loops(x)) {
    // The ReLU's mask as a pass of its own, then the plain backward in place: the same sums
    // as the unfused pair, bit for bit (a mask inside the sums vectorizes differently).
    if (relu) relu_backward(y, dy, dx);
    nchw_backward(x, relu ? dx : dy, gamma, save_mean, save_var, p.eps, dx, dgamma, dbeta);
    return;
  }
  guarded(op, [&] {
    BnEntry& fused = bwd_entry(p, x, relu);
    const bool own_ws = relu && fused.ws_md.get_size() > 0 && workspace.defined() &&
                        workspace.dtype() == DType::u8 &&
                        workspace.nbytes() == fused.ws_md.get_size();
    const Tensor* grad = &dy;
    BnEntry* e = &fused;
    if (relu && !own_ws) {
      // Not this backend's mask: dx = dy where y > 0, then the plain backward in place (oneDNN
      // takes diff_src == diff_dst).
      relu_backward(y, dy, dx);
      grad = &dx;
      e = &bwd_entry(p, x, false);
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(e->x_md, x)},
                                         {DNNL_ARG_DIFF_DST, mem(e->x_md, *grad)},
                                         {DNNL_ARG_SCALE, mem(e->c_md, gamma)},
                                         // oneDNN 2.6 asks for a shift here though no gradient
                                         // depends on it; gamma is a readable [C] stand-in.
                                         {DNNL_ARG_SHIFT, mem(e->c_md, gamma)},
                                         {DNNL_ARG_MEAN, mem(e->c_md, save_mean)},
                                         {DNNL_ARG_VARIANCE, mem(e->c_md, save_var)},
                                         {DNNL_ARG_DIFF_SRC, mem(e->x_md, dx)},
                                         {DNNL_ARG_DIFF_SCALE, mem(e->c_md, dgamma)},
                                         {DNNL_ARG_DIFF_SHIFT, mem(e->c_md, dbeta)}};
    if (own_ws) args.emplace(DNNL_ARG_WORKSPACE, mem(e->ws_md, workspace));
    dnnl::stream& s = stream();
    e->prim.execute(s, args);
    s.wait();
  });
}

}  // namespace

void batchnorm_forward_train(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, Tensor& y, Tensor& save_mean, Tensor& save_var,
                             Tensor& running_mean, Tensor& running_var) {
  forward_train("batchnorm_forward_train", p, false, x, gamma, beta, y, save_mean, save_var,
                running_mean, running_var, nullptr);
}

void batchnorm_relu_forward_train(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, Tensor& y, Tensor& save_mean,
                                  Tensor& save_var, Tensor& running_mean, Tensor& running_var,
                                  Tensor& workspace) {
  forward_train("batchnorm_relu_forward_train", p, true, x, gamma, beta, y, save_mean, save_var,
                running_mean, running_var, &workspace);
}

void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, Tensor& y) {
  constexpr const char* op = "batchnorm_forward_inference";
  const int64_t C = check_bn_data(op, x);
  if (use_plane_loops(x)) {
    nchw_forward_inference(x, gamma, beta, running_mean, running_var, p.eps, y);
    return;
  }
  guarded(op, [&] {
    BnEntry& e = cache().get(bn_key("infer", p, x), [&] {
      auto e = std::make_unique<BnEntry>();
      e->x_md = md4(x);
      e->c_md = chan_md(C);
      dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference, e->x_md, p.eps,
                                                kAffine | normalization_flags::use_global_stats);
      e->prim = dnnl::batch_normalization_forward(
          dnnl::batch_normalization_forward::primitive_desc(d, engine()));
      return e;
    });
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_SRC, mem(e.x_md, x)},
                       {DNNL_ARG_DST, mem(e.x_md, y)},
                       {DNNL_ARG_SCALE, mem(e.c_md, gamma)},
                       {DNNL_ARG_SHIFT, mem(e.c_md, beta)},
                       {DNNL_ARG_MEAN, mem(e.c_md, running_mean)},
                       {DNNL_ARG_VARIANCE, mem(e.c_md, running_var)}});
    s.wait();
  });
}

void batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                        const Tensor& gamma, const Tensor& save_mean, const Tensor& save_var,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  backward("batchnorm_backward", p, false, x, Tensor(), Tensor(), dy, gamma, save_mean, save_var,
           dx, dgamma, dbeta);
}

void batchnorm_relu_backward(const BatchNormParams& p, const Tensor& x, const Tensor& y,
                             const Tensor& workspace, const Tensor& dy, const Tensor& gamma,
                             const Tensor& save_mean, const Tensor& save_var, Tensor& dx,
                             Tensor& dgamma, Tensor& dbeta) {
  backward("batchnorm_relu_backward", p, true, x, y, workspace, dy, gamma, save_mean, save_var, dx,
           dgamma, dbeta);
}

}  // namespace scaledl::cpu
