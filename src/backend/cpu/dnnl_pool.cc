// Pooling on oneDNN: max (with its workspace), average (PyTorch's ceil_mode and
// count_include_pad semantics) and global average pooling, forward and backward.
#include <algorithm>
#include <vector>

#include "backend/cpu/dnnl_common.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;
using dnnl::algorithm;
using dnnl::memory;

namespace {

struct PoolGeom {
  memory::dims strides, kernel, pad_l, pad_r;
  int64_t OH = 0, OW = 0;
};

// The geometry of x-side (x or dx) and y-side (y or dy) tensors, whose shapes were validated
// before dispatch (ops/validate.cc); this backend runs f32 and bf16. padding_r is what makes
// oneDNN's output size pool_out_size's (larger than padding_l in ceil mode).
PoolGeom pool_geom(const char* op, const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  require_float(op, "x", x);
  require_float(op, "y", y);
  const int64_t H = x.dim(2), W = x.dim(3);
  PoolGeom g;
  g.OH = y.dim(2);
  g.OW = y.dim(3);
  g.strides = {p.stride_h, p.stride_w};
  g.kernel = {p.kernel_h, p.kernel_w};
  g.pad_l = {p.pad_h, p.pad_w};
  g.pad_r = {std::max<int64_t>(p.pad_h, (g.OH - 1) * p.stride_h + p.kernel_h - H - p.pad_h),
             std::max<int64_t>(p.pad_w, (g.OW - 1) * p.stride_w + p.kernel_w - W - p.pad_w)};
  return g;
}

algorithm avg_alg(const Pool2dParams& p) {
  return p.count_include_pad ? algorithm::pooling_avg_include_padding
                             : algorithm::pooling_avg_exclude_padding;
}

std::string pool_key(const char* op, const Pool2dParams& p, const Tensor& x) {
  return key_of(op, x.shape(), x.layout(), x.dtype(), p.kernel_h, p.kernel_w, p.stride_h,
                p.stride_w, p.pad_h, p.pad_w, p.ceil_mode, p.count_include_pad);
}

struct PoolEntry {
  dnnl::primitive prim;
  memory::desc x_md, y_md, ws_md;
};

PrimitiveCache<PoolEntry>& cache() {
  static PrimitiveCache<PoolEntry> c;
  return c;
}

dnnl::pooling_forward::primitive_desc fwd_pd(algorithm alg, const PoolGeom& g,
                                             const memory::desc& x_md, const memory::desc& y_md) {
  dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, alg, x_md, y_md, g.strides,
                                g.kernel, g.pad_l, g.pad_r);
  return dnnl::pooling_forward::primitive_desc(d, engine());
}

PoolEntry& fwd_entry(const char* key_op, algorithm alg, const Pool2dParams& p, const PoolGeom& g,
                     const Tensor& x, const Tensor& y) {
  return cache().get(pool_key(key_op, p, x), [&] {
    auto e = std::make_unique<PoolEntry>();
    e->x_md = md4(x);
    e->y_md = md4(y);
    auto pd = fwd_pd(alg, g, e->x_md, e->y_md);
    e->ws_md = pd.workspace_desc();
    e->prim = dnnl::pooling_forward(pd);
    return e;
  });
}

PoolEntry& bwd_entry(const char* key_op, algorithm alg, const Pool2dParams& p, const PoolGeom& g,
                     const Tensor& dx, const Tensor& dy) {
  return cache().get(pool_key(key_op, p, dx), [&] {
    auto e = std::make_unique<PoolEntry>();
    e->x_md = md4(dx);
    e->y_md = md4(dy);
    auto hint = fwd_pd(alg, g, e->x_md, e->y_md);
    dnnl::pooling_backward::desc d(alg, e->x_md, e->y_md, g.strides, g.kernel, g.pad_l, g.pad_r);
    dnnl::pooling_backward::primitive_desc pd(d, engine(), hint);
    e->ws_md = pd.workspace_desc();
    e->prim = dnnl::pooling_backward(pd);
    return e;
  });
}

void run_max_fwd(PoolEntry& e, const Tensor& x, const Tensor& y, Tensor& workspace) {
  const size_t ws_bytes = e.ws_md.get_size();
  if (!workspace.defined() || workspace.dtype() != DType::u8 || workspace.nbytes() != ws_bytes)
    workspace = Tensor::empty({static_cast<int64_t>(ws_bytes)}, DType::u8);
  dnnl::stream& s = stream();
  e.prim.execute(s, {{DNNL_ARG_SRC, mem(e.x_md, x)},
                     {DNNL_ARG_DST, mem(e.y_md, y)},
                     {DNNL_ARG_WORKSPACE, mem(e.ws_md, workspace)}});
  s.wait();
}

// Per output row (or column): full window / PyTorch's divisor for count_include_pad, which
// clips the window at the end of the right padding. 1 everywhere except in ceil mode.
std::vector<float> include_pad_factors(int64_t in, int64_t out, int k, int s, int pad) {
  std::vector<float> f(static_cast<size_t>(out), 1.f);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * s - pad;
    const int64_t end = std::min<int64_t>(start + k, in + pad);
    f[static_cast<size_t>(o)] = static_cast<float>(k) / static_cast<float>(end - start);
  }
  return f;
}

// Whether some window of a ceil-mode include-pad average runs past the right padding, where
// oneDNN divides by the full kernel and PyTorch by the clipped window.
bool needs_divisor_fix(const Pool2dParams& p, const Tensor& x, const PoolGeom& g) {
  if (!p.ceil_mode || !p.count_include_pad) return false;
  return (g.OH - 1) * p.stride_h - p.pad_h + p.kernel_h > x.dim(2) + p.pad_h ||
         (g.OW - 1) * p.stride_w - p.pad_w + p.kernel_w > x.dim(3) + p.pad_w;
}

// dst = src (an output-side tensor) times the include-pad factors of its row and column.
void scale_by_divisor_fix(const Pool2dParams& p, int64_t H, int64_t W, const Tensor& src,
                          Tensor& dst) {
  const int64_t N = src.dim(0), C = src.dim(1), OH = src.dim(2), OW = src.dim(3);
  const auto fh = include_pad_factors(H, OH, p.kernel_h, p.stride_h, p.pad_h);
  const auto fw = include_pad_factors(W, OW, p.kernel_w, p.stride_w, p.pad_w);
  const float* s = src.data<float>();
  float* d = dst.data<float>();
  const Layout l = src.layout();
#pragma omp parallel for collapse(2)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < OH; ++h)
        for (int64_t w = 0; w < OW; ++w) {
          const int64_t i = offset4(l, n, c, h, w, C, OH, OW);
          d[i] = s[i] * fh[static_cast<size_t>(h)] * fw[static_cast<size_t>(w)];
        }
}

}  // namespace

void maxpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y, Tensor& workspace) {
  constexpr const char* op = "maxpool2d_forward";
  const PoolGeom g = pool_geom(op, p, x, y);
  guarded(op, [&] {
    PoolEntry& e = fwd_entry("max_fwd", algorithm::pooling_max, p, g, x, y);
    run_max_fwd(e, x, y, workspace);
  });
}

void maxpool2d_backward(const Pool2dParams& p, const Tensor& x, const Tensor& y,
                        const Tensor& workspace, const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "maxpool2d_backward";
  const PoolGeom g = pool_geom(op, p, dx, dy);
  guarded(op, [&] {
    PoolEntry& e = bwd_entry("max_bwd", algorithm::pooling_max, p, g, dx, dy);
    Tensor ws = workspace;
    if (!ws.defined() || ws.dtype() != DType::u8 || ws.nbytes() != e.ws_md.get_size()) {
      // Not this backend's workspace (or none): recompute it from x.
      PoolEntry& f = fwd_entry("max_fwd", algorithm::pooling_max, p, g, x, y);
      Tensor y_scratch = Tensor::empty(y.shape(), y.dtype(), Device::cpu(), y.layout());
      ws = Tensor();
      run_max_fwd(f, x, y_scratch, ws);
    }
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_DIFF_DST, mem(e.y_md, dy)},
                       {DNNL_ARG_WORKSPACE, mem(e.ws_md, ws)},
                       {DNNL_ARG_DIFF_SRC, mem(e.x_md, dx)}});
    s.wait();
  });
}

void avgpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y) {
  constexpr const char* op = "avgpool2d_forward";
  require_f32(op, "x", x);  // the divisor fix below reads floats
  const PoolGeom g = pool_geom(op, p, x, y);
  guarded(op, [&] {
    PoolEntry& e = fwd_entry("avg_fwd", avg_alg(p), p, g, x, y);
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_SRC, mem(e.x_md, x)}, {DNNL_ARG_DST, mem(e.y_md, y)}});
    s.wait();
  });
  if (needs_divisor_fix(p, x, g)) scale_by_divisor_fix(p, x.dim(2), x.dim(3), y, y);
}

void avgpool2d_backward(const Pool2dParams& p, const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "avgpool2d_backward";
  require_f32(op, "dy", dy);
  const PoolGeom g = pool_geom(op, p, dx, dy);
  Tensor d = dy;
  if (needs_divisor_fix(p, dx, g)) {
    d = Tensor::empty(dy.shape(), DType::f32, Device::cpu(), dy.layout());
    scale_by_divisor_fix(p, dx.dim(2), dx.dim(3), dy, d);
  }
  guarded(op, [&] {
    PoolEntry& e = bwd_entry("avg_bwd", avg_alg(p), p, g, dx, d);
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_DIFF_DST, mem(e.y_md, d)}, {DNNL_ARG_DIFF_SRC, mem(e.x_md, dx)}});
    s.wait();
  });
}

namespace {

// Global average pooling is pooling with the whole plane as the kernel; y [N,C] is laid out
// exactly as [N,C,1,1] in either layout.
Pool2dParams global_params(const Tensor& x) {
  Pool2dParams p;
  p.kernel_h = p.stride_h = static_cast<int>(x.dim(2));
  p.kernel_w = p.stride_w = static_cast<int>(x.dim(3));
  p.pad_h = p.pad_w = 0;
  p.ceil_mode = false;
  p.count_include_pad = false;
  return p;
}

}  // namespace

void global_avgpool_forward(const Tensor& x, Tensor& y) {
  constexpr const char* op = "global_avgpool_forward";
  const Pool2dParams p = global_params(x);
  const Tensor y4 = y.reshape({x.dim(0), x.dim(1), 1, 1}).with_layout(x.layout());
  const PoolGeom g = pool_geom(op, p, x, y4);
  guarded(op, [&] {
    PoolEntry& e = fwd_entry("gap_fwd", algorithm::pooling_avg_exclude_padding, p, g, x, y4);
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_SRC, mem(e.x_md, x)}, {DNNL_ARG_DST, mem(e.y_md, y4)}});
    s.wait();
  });
}

void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "global_avgpool_backward";
  const Pool2dParams p = global_params(dx);
  const Tensor dy4 = dy.reshape({dx.dim(0), dx.dim(1), 1, 1}).with_layout(dx.layout());
  const PoolGeom g = pool_geom(op, p, dx, dy4);
  guarded(op, [&] {
    PoolEntry& e = bwd_entry("gap_bwd", algorithm::pooling_avg_exclude_padding, p, g, dx, dy4);
    dnnl::stream& s = stream();
    e.prim.execute(s,
                   {{DNNL_ARG_DIFF_DST, mem(e.y_md, dy4)}, {DNNL_ARG_DIFF_SRC, mem(e.x_md, dx)}});
    s.wait();
  });
}

}  // namespace scaledl::cpu
