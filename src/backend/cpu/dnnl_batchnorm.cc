// Batch normalization on oneDNN (batch_normalization forward training/inference and backward,
// with separate scale and shift), plus the PyTorch-style running statistics update.
#include "backend/cpu/dnnl_common.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;
using dnnl::memory;
using dnnl::normalization_flags;

namespace {

const normalization_flags kAffine = normalization_flags::use_scale | normalization_flags::use_shift;

// x is [N,C,H,W] (any layout) or [N,C]; returns C and checks y-like tensors against it.
int64_t check_bn_data(const char* op, const Tensor& x, const Tensor& y, const char* y_name) {
  require_f32(op, "x", x);
  require(x.ndim() == 4 || x.ndim() == 2, op, "x must be [N,C,H,W] or [N,C], got " + x.str());
  require_f32(op, y_name, y);
  require_shape(op, y_name, y, x.shape());
  require_same_layout(op, y_name, y, x);
  return x.dim(1);
}

memory::desc data_md(const Tensor& x) {
  return x.ndim() == 4 ? md4(x) : md_plain(x);
}
memory::desc chan_md(int64_t c) {
  return memory::desc({c}, dt::f32, tag::a);
}

std::string bn_key(const char* op, const BatchNormParams& p, const Tensor& x) {
  return key_of(op, x.shape(), x.layout(), p.eps);
}

struct BnEntry {
  dnnl::primitive prim;
  memory::desc x_md, c_md;
};

PrimitiveCache<BnEntry>& cache() {
  static PrimitiveCache<BnEntry> c;
  return c;
}

dnnl::batch_normalization_forward::primitive_desc train_pd(const memory::desc& x_md, float eps) {
  dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_training, x_md, eps, kAffine);
  return dnnl::batch_normalization_forward::primitive_desc(d, engine());
}

}  // namespace

void batchnorm_forward_train(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, Tensor& y, Tensor& save_mean, Tensor& save_var,
                             Tensor& running_mean, Tensor& running_var) {
  constexpr const char* op = "batchnorm_forward_train";
  const int64_t C = check_bn_data(op, x, y, "y");
  require_vec(op, "gamma", gamma, C);
  require_vec(op, "beta", beta, C);
  require_vec(op, "save_mean", save_mean, C);
  require_vec(op, "save_var", save_var, C);
  const int64_t n = x.numel() / C;
  require(n > 1, op, "needs more than one value per channel in training, got x " + x.str());
  guarded(op, [&] {
    BnEntry& e = cache().get(bn_key("train", p, x), [&] {
      auto e = std::make_unique<BnEntry>();
      e->x_md = data_md(x);
      e->c_md = chan_md(C);
      e->prim = dnnl::batch_normalization_forward(train_pd(e->x_md, p.eps));
      return e;
    });
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_SRC, mem(e.x_md, x)},
                       {DNNL_ARG_DST, mem(e.x_md, y)},
                       {DNNL_ARG_SCALE, mem(e.c_md, gamma)},
                       {DNNL_ARG_SHIFT, mem(e.c_md, beta)},
                       {DNNL_ARG_MEAN, mem(e.c_md, save_mean)},
                       {DNNL_ARG_VARIANCE, mem(e.c_md, save_var)}});
    s.wait();
  });
  if (running_mean.defined() || running_var.defined()) {
    require_vec(op, "running_mean", running_mean, C);
    require_vec(op, "running_var", running_var, C);
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
}

void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, Tensor& y) {
  constexpr const char* op = "batchnorm_forward_inference";
  const int64_t C = check_bn_data(op, x, y, "y");
  require_vec(op, "gamma", gamma, C);
  require_vec(op, "beta", beta, C);
  require_vec(op, "running_mean", running_mean, C);
  require_vec(op, "running_var", running_var, C);
  guarded(op, [&] {
    BnEntry& e = cache().get(bn_key("infer", p, x), [&] {
      auto e = std::make_unique<BnEntry>();
      e->x_md = data_md(x);
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
  constexpr const char* op = "batchnorm_backward";
  const int64_t C = check_bn_data(op, x, dy, "dy");
  check_bn_data(op, x, dx, "dx");
  require_vec(op, "gamma", gamma, C);
  require_vec(op, "save_mean", save_mean, C);
  require_vec(op, "save_var", save_var, C);
  // Frozen affine parameters may come without gradient tensors: compute into scratch.
  Tensor dg = dgamma.defined() ? dgamma : Tensor::empty({C});
  Tensor db = dbeta.defined() ? dbeta : Tensor::empty({C});
  require_vec(op, "dgamma", dg, C);
  require_vec(op, "dbeta", db, C);
  guarded(op, [&] {
    BnEntry& e = cache().get(bn_key("bwd", p, x), [&] {
      auto e = std::make_unique<BnEntry>();
      e->x_md = data_md(x);
      e->c_md = chan_md(C);
      auto hint = train_pd(e->x_md, p.eps);
      dnnl::batch_normalization_backward::desc d(dnnl::prop_kind::backward, e->x_md, e->x_md, p.eps,
                                                 kAffine);
      e->prim = dnnl::batch_normalization_backward(
          dnnl::batch_normalization_backward::primitive_desc(d, engine(), hint));
      return e;
    });
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_SRC, mem(e.x_md, x)},
                       {DNNL_ARG_DIFF_DST, mem(e.x_md, dy)},
                       {DNNL_ARG_SCALE, mem(e.c_md, gamma)},
                       // oneDNN 2.6 asks for a shift here though no gradient depends on
                       // it; gamma is a readable [C] stand-in.
                       {DNNL_ARG_SHIFT, mem(e.c_md, gamma)},
                       {DNNL_ARG_MEAN, mem(e.c_md, save_mean)},
                       {DNNL_ARG_VARIANCE, mem(e.c_md, save_var)},
                       {DNNL_ARG_DIFF_SRC, mem(e.x_md, dx)},
                       {DNNL_ARG_DIFF_SCALE, mem(e.c_md, dg)},
                       {DNNL_ARG_DIFF_SHIFT, mem(e.c_md, db)}});
    s.wait();
  });
}

}  // namespace scaledl::cpu
