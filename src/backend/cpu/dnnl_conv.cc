// 2-D convolution on oneDNN: forward, backward data and backward weights. nhwc activations are
// used in place; nchw ones go through the primitive's own layout (see act_md). Weights are
// plain [O, C/groups, KH, KW] for the user and reordered to/from the layout the primitive picks
// (format any) through per-thread scratch memory, so no call allocates. The backward passes of
// 1x1 convolutions on nhwc run as matrix products where that is faster (dnnl_conv_pointwise.cc).
// Tensors are f32, or bf16 where the CPU has bf16 instructions (the dispatch sends bf16 here only
// then): one dtype for activations and weights, the bias in its own (f32 or bf16).
#include "backend/cpu/dnnl_common.h"
#include "backend/cpu/dnnl_conv_pointwise.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;
using dnnl::memory;

namespace {

// Geometry of one convolution call, in oneDNN's terms.
struct ConvGeom {
  memory::dims strides, dilates, pad_l, pad_r;
  memory::dims w_dims;  // oihw, or goihw with groups > 1
  tag w_tag = tag::oihw;
  int64_t out_c = 0;
  dt dtype = dt::f32;  // activations' and weights'
};

// The geometry of x-side, weights and y-side tensors (x or dx, w or dw, y or dy) of one call.
// Their shapes were validated before dispatch (ops/validate.cc); this backend runs f32 and bf16.
ConvGeom conv_geom(const char* op, const Conv2dParams& p, const Tensor& x, const Tensor& w,
                   const Tensor& y) {
  require_float(op, "x", x);
  require_float(op, "weights", w);
  require_float(op, "y", y);
  const int64_t O = w.dim(0), G = p.groups;
  ConvGeom g;
  g.strides = {p.stride_h, p.stride_w};
  g.dilates = {p.dil_h - 1, p.dil_w - 1};
  g.pad_l = {p.pad_h, p.pad_w};
  g.pad_r = g.pad_l;  // oneDNN floors the output size like conv_out_size
  if (G == 1) {
    g.w_dims = w.shape();
    g.w_tag = tag::oihw;
  } else {
    g.w_dims = {G, O / G, w.dim(1), w.dim(2), w.dim(3)};
    g.w_tag = tag::goihw;
  }
  g.out_c = O;
  g.dtype = dnnl_dtype(x.dtype());
  return g;
}

std::string conv_key(const char* op, const Conv2dParams& p, const Tensor& x, const Tensor& w,
                     const Tensor& b) {
  return key_of(op, x.shape(), w.shape(), x.layout(), x.dtype(), p.stride_h, p.stride_w, p.pad_h,
                p.pad_w, p.dil_h, p.dil_w, p.groups, b.defined() ? b.dtype() : DType::u8);
}

memory::desc bias_md(const ConvGeom& g, const Tensor& b) {
  return b.defined() ? memory::desc({g.out_c}, dnnl_dtype(b.dtype()), tag::a) : memory::desc();
}

// The activation descriptor a primitive is built with. nhwc runs in place: oneDNN's direct
// nhwc kernels are as fast as its blocked ones. For nchw oneDNN has only its slow gemm
// convolution, so the primitive picks its own (blocked) layout and the data is reordered
// through per-thread scratch memory; the tensors themselves stay nchw.
memory::desc act_md(const Tensor& t) {
  if (t.layout() == Layout::nhwc) return md4(t);
  return memory::desc(t.shape(), dnnl_dtype(t.dtype()), tag::any);
}

// One operand: the user's descriptor, the primitive's, and the reorder between them (user ->
// primitive for inputs, primitive -> user for outputs) when they differ.
struct Operand {
  memory::desc user, prim;
  bool reorder = false;
  dnnl::reorder r;
};

Operand make_operand(const memory::desc& user, const memory::desc& prim, bool input) {
  Operand o;
  o.user = user;
  o.prim = prim;
  o.reorder = prim != user;
  if (o.reorder)
    o.r = dnnl::reorder(input ? dnnl::reorder::primitive_desc(engine(), user, engine(), prim)
                              : dnnl::reorder::primitive_desc(engine(), prim, engine(), user));
  return o;
}

// The memory the primitive reads for input tensor t (a copy in scratch `slot` if reordered).
memory bind_input(dnnl::stream& s, const Operand& o, const Tensor& t, int slot) {
  memory u = mem(o.user, t);
  if (!o.reorder) return u;
  memory m = scratch(slot, o.prim);
  o.r.execute(s, u, m);
  return m;
}

// The memory the primitive writes for output tensor t; finish_output moves it into t.
memory bind_output(const Operand& o, const Tensor& t, int slot) {
  return o.reorder ? scratch(slot, o.prim) : mem(o.user, t);
}
void finish_output(dnnl::stream& s, const Operand& o, memory& m, const Tensor& t) {
  if (!o.reorder) return;
  memory u = mem(o.user, t);
  o.r.execute(s, m, u);
}

// Scratch slots: one per operand of a call.
constexpr int kSlotX = 0, kSlotW = 1, kSlotY = 2;

dnnl::convolution_forward::primitive_desc fwd_pd(const ConvGeom& g, const Tensor& x,
                                                 const Tensor& y, const Tensor& b) {
  const memory::desc w_any(g.w_dims, g.dtype, tag::any);
  dnnl::convolution_forward::desc d(
      dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, act_md(x), w_any,
      bias_md(g, b), act_md(y), g.strides, g.dilates, g.pad_l, g.pad_r);
  return dnnl::convolution_forward::primitive_desc(d, engine());
}

// A primitive and its operands: x-side (x or dx), weights (w or dw), y-side (y or dy).
struct ConvEntry {
  dnnl::primitive prim;
  Operand x, w, y;
  memory::desc b_md;
};

PrimitiveCache<ConvEntry>& fwd_cache() {
  static PrimitiveCache<ConvEntry> c;
  return c;
}
PrimitiveCache<ConvEntry>& bwd_data_cache() {
  static PrimitiveCache<ConvEntry> c;
  return c;
}
PrimitiveCache<ConvEntry>& bwd_weights_cache() {
  static PrimitiveCache<ConvEntry> c;
  return c;
}

memory::desc user_w_md(const ConvGeom& g) {
  return memory::desc(g.w_dims, g.dtype, g.w_tag);
}

}  // namespace

void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& b,
                    Tensor& y) {
  constexpr const char* op = "conv2d_forward";
  const ConvGeom g = conv_geom(op, p, x, w, y);
  const bool bias = b.defined();
  if (bias) require_float(op, "bias", b);
  guarded(op, [&] {
    const ConvEntry& e = fwd_cache().get(conv_key("fwd", p, x, w, b), [&] {
      auto e = std::make_unique<ConvEntry>();
      auto pd = fwd_pd(g, x, y, b);
      e->x = make_operand(md4(x), pd.src_desc(), true);
      e->w = make_operand(user_w_md(g), pd.weights_desc(), true);
      e->y = make_operand(md4(y), pd.dst_desc(), false);
      e->b_md = pd.bias_desc();
      e->prim = dnnl::convolution_forward(pd);
      return e;
    });
    dnnl::stream& s = stream();
    memory ym = bind_output(e.y, y, kSlotY);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind_input(s, e.x, x, kSlotX)},
                                         {DNNL_ARG_WEIGHTS, bind_input(s, e.w, w, kSlotW)},
                                         {DNNL_ARG_DST, ym}};
    if (bias) args.emplace(DNNL_ARG_BIAS, mem(e.b_md, b));
    e.prim.execute(s, args);
    finish_output(s, e.y, ym, y);
    s.wait();
  });
}

void conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  constexpr const char* op = "conv2d_backward_data";
  const ConvGeom g = conv_geom(op, p, dx, w, dy);
  if (pointwise_backward(p, dx, w, false)) return pointwise_backward_data(p, dy, w, dx);
  guarded(op, [&] {
    const ConvEntry& e = bwd_data_cache().get(conv_key("bwd_data", p, dx, w, Tensor()), [&] {
      auto e = std::make_unique<ConvEntry>();
      auto hint = fwd_pd(g, dx, dy, Tensor());
      const memory::desc w_any(g.w_dims, g.dtype, tag::any);
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, act_md(dx),
                                              w_any, act_md(dy), g.strides, g.dilates, g.pad_l,
                                              g.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(d, engine(), hint);
      e->x = make_operand(md4(dx), pd.diff_src_desc(), false);
      e->w = make_operand(user_w_md(g), pd.weights_desc(), true);
      e->y = make_operand(md4(dy), pd.diff_dst_desc(), true);
      e->prim = dnnl::convolution_backward_data(pd);
      return e;
    });
    dnnl::stream& s = stream();
    memory dxm = bind_output(e.x, dx, kSlotX);
    e.prim.execute(s, {{DNNL_ARG_DIFF_DST, bind_input(s, e.y, dy, kSlotY)},
                       {DNNL_ARG_WEIGHTS, bind_input(s, e.w, w, kSlotW)},
                       {DNNL_ARG_DIFF_SRC, dxm}});
    finish_output(s, e.x, dxm, dx);
    s.wait();
  });
}

void conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor& db) {
  constexpr const char* op = "conv2d_backward_weights";
  const ConvGeom g = conv_geom(op, p, x, dw, dy);
  const bool bias = db.defined();
  if (bias) require_float(op, "db", db);
  if (pointwise_backward(p, x, dw, bias)) return pointwise_backward_weights(p, x, dy, dw);
  guarded(op, [&] {
    const ConvEntry& e = bwd_weights_cache().get(conv_key("bwd_weights", p, x, dw, db), [&] {
      auto e = std::make_unique<ConvEntry>();
      auto hint = fwd_pd(g, x, dy, db);
      const memory::desc w_any(g.w_dims, g.dtype, tag::any);
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, act_md(x),
                                                 w_any, bias_md(g, db), act_md(dy), g.strides,
                                                 g.dilates, g.pad_l, g.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), hint);
      e->x = make_operand(md4(x), pd.src_desc(), true);
      e->w = make_operand(user_w_md(g), pd.diff_weights_desc(), false);
      e->y = make_operand(md4(dy), pd.diff_dst_desc(), true);
      e->b_md = pd.diff_bias_desc();
      e->prim = dnnl::convolution_backward_weights(pd);
      return e;
    });
    dnnl::stream& s = stream();
    memory dwm = bind_output(e.w, dw, kSlotW);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind_input(s, e.x, x, kSlotX)},
                                         {DNNL_ARG_DIFF_DST, bind_input(s, e.y, dy, kSlotY)},
                                         {DNNL_ARG_DIFF_WEIGHTS, dwm}};
    if (bias) args.emplace(DNNL_ARG_DIFF_BIAS, mem(e.b_md, db));
    e.prim.execute(s, args);
    finish_output(s, e.w, dwm, dw);
    s.wait();
  });
}

}  // namespace scaledl::cpu
