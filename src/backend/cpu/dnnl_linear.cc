// Fully connected layer on oneDNN inner_product (forward, backward data, backward weights),
// with the user's plain [M, K] weights used in place (no reorders). f32, or bf16 where the CPU
// has bf16 instructions (the dispatch sends bf16 here only then); the bias in its own dtype.
#include "backend/cpu/dnnl_common.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;
using dnnl::memory;

namespace {

// x [N,K], w [M,K], y [N,M] (x or dx, w or dw, y or dy): shapes and one dtype for the three
// validated before dispatch (ops/validate.cc); this backend runs f32 and bf16.
void check_linear(const char* op, const Tensor& x, const Tensor& w, const Tensor& y) {
  require_float(op, "x", x);
  require_float(op, "weights", w);
  require_float(op, "y", y);
}

struct LinearEntry {
  dnnl::primitive prim;
  memory::desc x_md, w_md, b_md, y_md;
};

PrimitiveCache<LinearEntry>& cache() {
  static PrimitiveCache<LinearEntry> c;
  return c;
}

// b: the bias (or its gradient), undefined without one.
void fill_mds(LinearEntry& e, const Tensor& x, const Tensor& w, const Tensor& b) {
  const dt d = dnnl_dtype(x.dtype());
  e.x_md = memory::desc({x.dim(0), x.dim(1)}, d, tag::nc);
  e.w_md = memory::desc({w.dim(0), w.dim(1)}, d, tag::oi);
  e.b_md = b.defined() ? memory::desc({w.dim(0)}, dnnl_dtype(b.dtype()), tag::a) : memory::desc();
  e.y_md = memory::desc({x.dim(0), w.dim(0)}, d, tag::nc);
}

dnnl::inner_product_forward::primitive_desc fwd_pd(const LinearEntry& e) {
  dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_training, e.x_md, e.w_md, e.b_md,
                                      e.y_md);
  return dnnl::inner_product_forward::primitive_desc(d, engine());
}

std::string linear_key(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  return key_of(op, x.shape(), w.shape(), x.dtype(), b.defined() ? b.dtype() : DType::u8);
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  constexpr const char* op = "linear_forward";
  check_linear(op, x, w, y);
  const bool bias = b.defined();
  if (bias) require_float(op, "bias", b);
  guarded(op, [&] {
    LinearEntry& e = cache().get(linear_key("fwd", x, w, b), [&] {
      auto e = std::make_unique<LinearEntry>();
      fill_mds(*e, x, w, b);
      e->prim = dnnl::inner_product_forward(fwd_pd(*e));
      return e;
    });
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(e.x_md, x)},
                                         {DNNL_ARG_WEIGHTS, mem(e.w_md, w)},
                                         {DNNL_ARG_DST, mem(e.y_md, y)}};
    if (bias) args.emplace(DNNL_ARG_BIAS, mem(e.b_md, b));
    dnnl::stream& s = stream();
    e.prim.execute(s, args);
    s.wait();
  });
}

void linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  constexpr const char* op = "linear_backward_data";
  check_linear(op, dx, w, dy);
  guarded(op, [&] {
    LinearEntry& e = cache().get(linear_key("bwd_data", dx, w, Tensor()), [&] {
      auto e = std::make_unique<LinearEntry>();
      fill_mds(*e, dx, w, Tensor());
      dnnl::inner_product_backward_data::desc d(e->x_md, e->w_md, e->y_md);
      e->prim = dnnl::inner_product_backward_data(
          dnnl::inner_product_backward_data::primitive_desc(d, engine(), fwd_pd(*e)));
      return e;
    });
    dnnl::stream& s = stream();
    e.prim.execute(s, {{DNNL_ARG_DIFF_DST, mem(e.y_md, dy)},
                       {DNNL_ARG_WEIGHTS, mem(e.w_md, w)},
                       {DNNL_ARG_DIFF_SRC, mem(e.x_md, dx)}});
    s.wait();
  });
}

void linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  constexpr const char* op = "linear_backward_weights";
  check_linear(op, x, dw, dy);
  const bool bias = db.defined();
  if (bias) require_float(op, "db", db);
  guarded(op, [&] {
    LinearEntry& e = cache().get(linear_key("bwd_weights", x, dw, db), [&] {
      auto e = std::make_unique<LinearEntry>();
      fill_mds(*e, x, dw, db);
      dnnl::inner_product_backward_weights::desc d(e->x_md, e->w_md, e->b_md, e->y_md);
      e->prim = dnnl::inner_product_backward_weights(
          dnnl::inner_product_backward_weights::primitive_desc(d, engine(), fwd_pd(*e)));
      return e;
    });
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(e.x_md, x)},
                                         {DNNL_ARG_DIFF_DST, mem(e.y_md, dy)},
                                         {DNNL_ARG_DIFF_WEIGHTS, mem(e.w_md, dw)}};
    if (bias) args.emplace(DNNL_ARG_DIFF_BIAS, mem(e.b_md, db));
    dnnl::stream& s = stream();
    e.prim.execute(s, args);
    s.wait();
  });
}

}  // namespace scaledl::cpu
