// Element-wise ops: relu forward/backward (oneDNN eltwise), add (oneDNN binary) and dropout
// (an OpenMP loop drawing the shared hash_words mask). relu and add take f32 or bf16 (the
// latter where the dispatch sends bf16 natively), one dtype per call. Shapes, layouts and dtypes
// are validated before dispatch (ops/validate.cc).
#include <string>
#include <utility>

#include "backend/cpu/dnnl_common.h"
#include "core/rng.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;
using dnnl::algorithm;
using dnnl::memory;

namespace {

struct EltEntry {
  dnnl::primitive prim;
  memory::desc md;
};

PrimitiveCache<EltEntry>& cache() {
  static PrimitiveCache<EltEntry> c;
  return c;
}

dnnl::eltwise_forward::primitive_desc relu_fwd_pd(const memory::desc& md) {
  dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_training,
                                algorithm::eltwise_relu_use_dst_for_bwd, md, 0.f, 0.f);
  return dnnl::eltwise_forward::primitive_desc(d, engine());
}

}  // namespace

void relu_forward(const Tensor& x, Tensor& y) {
  constexpr const char* op = "relu_forward";
  require_float(op, "x", x);
  if (x.numel() == 0) return;
  guarded(op, [&] {
    EltEntry& e = cache().get(key_of("relu_fwd", x.numel(), x.dtype()), [&] {
      auto e = std::make_unique<EltEntry>();
      e->md = md_flat(x);
      e->prim = dnnl::eltwise_forward(relu_fwd_pd(e->md));
      return e;
    });
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_SRC, mem(e.md, x)}, {DNNL_ARG_DST, mem(e.md, y)}});
    s.wait();
  });
}

void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "relu_backward";
  require_float(op, "y", y);
  if (y.numel() == 0) return;
  guarded(op, [&] {
    EltEntry& e = cache().get(key_of("relu_bwd", y.numel(), y.dtype()), [&] {
      auto e = std::make_unique<EltEntry>();
      e->md = md_flat(y);
      dnnl::eltwise_backward::desc d(algorithm::eltwise_relu_use_dst_for_bwd, e->md, e->md, 0.f,
                                     0.f);
      e->prim = dnnl::eltwise_backward(
          dnnl::eltwise_backward::primitive_desc(d, engine(), relu_fwd_pd(e->md)));
      return e;
    });
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_DST, mem(e.md, y)},
                       {DNNL_ARG_DIFF_DST, mem(e.md, dy)},
                       {DNNL_ARG_DIFF_SRC, mem(e.md, dx)}});
    s.wait();
  });
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
  constexpr const char* op = "add";
  require_float(op, "a", a);
  if (a.numel() == 0) return;
  // oneDNN computes in place only through src0: put the operand y aliases first.
  const bool swap = y.raw() == b.raw() && y.raw() != a.raw();
  const Tensor& s0 = swap ? b : a;
  const Tensor& s1 = swap ? a : b;
  guarded(op, [&] {
    EltEntry& e = cache().get(key_of("add", a.numel(), a.dtype()), [&] {
      auto e = std::make_unique<EltEntry>();
      e->md = md_flat(a);
      dnnl::binary::desc d(algorithm::binary_add, e->md, e->md, e->md);
      e->prim = dnnl::binary(dnnl::binary::primitive_desc(d, engine()));
      return e;
    });
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_SRC_0, mem(e.md, s0)},
                       {DNNL_ARG_SRC_1, mem(e.md, s1)},
                       {DNNL_ARG_DST, mem(e.md, y)}});
    s.wait();
  });
}

void dropout_forward(float p, uint64_t seed, const Tensor& x, Tensor& y, Tensor& mask) {
  constexpr const char* op = "dropout_forward";
  require_f32(op, "x", x);
  if (!mask.defined()) mask = Tensor::empty(x.shape(), DType::u8, Device::cpu(), x.layout());
  const float keep_p = 1.f - p;  // kept values are divided by it (exactly as the formula)
  const float* xs = x.data<float>();
  float* ys = y.data<float>();
  uint8_t* m = mask.data<uint8_t>();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = bits_to_unit(hash_words(seed, static_cast<uint64_t>(i))) >= p;
    m[i] = keep ? 1 : 0;
    ys[i] = keep ? xs[i] / keep_p : 0.f;
  }
}

void dropout_backward(float p, const Tensor& mask, const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "dropout_backward";
  require_f32(op, "dy", dy);
  const float keep_p = 1.f - p;
  const float* d = dy.data<float>();
  float* g = dx.data<float>();
  const uint8_t* m = mask.data<uint8_t>();
  const int64_t n = dy.numel();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) g[i] = m[i] ? d[i] / keep_p : 0.f;
}

}  // namespace scaledl::cpu
