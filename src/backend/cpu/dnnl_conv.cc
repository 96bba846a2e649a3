// 2-D convolution on oneDNN: forward, backward data and backward weights. Activations stay in
// the tensor's layout (nchw or nhwc); weights are plain [O, C/groups, KH, KW] for the user and
// reordered to/from the layout the primitive picks (format any), into buffers kept per shape.
#include <mutex>

#include "backend/cpu/dnnl_common.h"
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
};

// Checks x-side, weights and y-side tensors (x or dx, w or dw, y or dy) of one call.
ConvGeom check_conv(const char* op, const Conv2dParams& p, const Tensor& x, const Tensor& w,
                    const Tensor& y) {
  require_4d(op, "x", x);
  require_4d(op, "weights", w);
  require_4d(op, "y", y);
  require_same_layout(op, "y", y, x);
  require(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0 && p.dil_h >= 1 &&
              p.dil_w >= 1 && p.groups >= 1,
          op, "bad parameters: stride and dilation must be >= 1, padding >= 0, groups >= 1");
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = w.dim(0), KH = w.dim(2), KW = w.dim(3), G = p.groups;
  require(C % G == 0 && O % G == 0, op,
          "channels of x " + x.str() + " and weights " + w.str() + " must divide by groups " +
              std::to_string(G));
  require(w.dim(1) == C / G, op,
          "weights " + w.str() + " must have C/groups = " + std::to_string(C / G) +
              " input channels for x " + x.str());
  const int64_t OH = conv_out_size(H, static_cast<int>(KH), p.stride_h, p.pad_h, p.dil_h);
  const int64_t OW = conv_out_size(W, static_cast<int>(KW), p.stride_w, p.pad_w, p.dil_w);
  require(OH > 0 && OW > 0, op,
          "kernel " + w.str() + " does not fit in padded input " + x.str());
  require_shape(op, "y", y, {N, O, OH, OW});

  ConvGeom g;
  g.strides = {p.stride_h, p.stride_w};
  g.dilates = {p.dil_h - 1, p.dil_w - 1};
  g.pad_l = {p.pad_h, p.pad_w};
  g.pad_r = g.pad_l;  // oneDNN floors the output size like conv_out_size
  if (G == 1) {
    g.w_dims = {O, C, KH, KW};
    g.w_tag = tag::oihw;
  } else {
    g.w_dims = {G, O / G, C / G, KH, KW};
    g.w_tag = tag::goihw;
  }
  g.out_c = O;
  return g;
}

std::string conv_key(const char* op, const Conv2dParams& p, const Tensor& x, const Tensor& w,
                     bool bias) {
  return key_of(op, x.shape(), w.shape(), x.layout(), p.stride_h, p.stride_w, p.pad_h, p.pad_w,
                p.dil_h, p.dil_w, p.groups, bias);
}

dnnl::convolution_forward::primitive_desc fwd_pd(const ConvGeom& g, const memory::desc& x_md,
                                                 const memory::desc& y_md, bool bias) {
  const memory::desc w_any(g.w_dims, dt::f32, tag::any);
  const memory::desc b_md = bias ? memory::desc({g.out_c}, dt::f32, tag::a) : memory::desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training,
                                    dnnl::algorithm::convolution_direct, x_md, w_any, b_md, y_md,
                                    g.strides, g.dilates, g.pad_l, g.pad_r);
  return dnnl::convolution_forward::primitive_desc(d, engine());
}

// A primitive plus the buffer and reorder that move the weights between the user's plain
// layout and the primitive's. `mu` guards the buffer while a call uses it.
struct ConvEntry {
  dnnl::primitive prim;
  memory::desc x_md, y_md, b_md, w_user_md;
  bool reorder_w = false;
  memory w_buf;
  dnnl::reorder w_reorder;
  std::mutex mu;
};

void setup_weights(ConvEntry& e, const memory::desc& prim_w_md, bool to_user) {
  e.reorder_w = prim_w_md != e.w_user_md;
  if (!e.reorder_w) return;
  e.w_buf = memory(prim_w_md, engine());
  e.w_reorder = dnnl::reorder(
      to_user ? dnnl::reorder::primitive_desc(engine(), prim_w_md, engine(), e.w_user_md)
              : dnnl::reorder::primitive_desc(engine(), e.w_user_md, engine(), prim_w_md));
}

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

}  // namespace

void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& b,
                    Tensor& y) {
  constexpr const char* op = "conv2d_forward";
  const ConvGeom g = check_conv(op, p, x, w, y);
  const bool bias = b.defined();
  if (bias) require_vec(op, "bias", b, g.out_c);
  guarded(op, [&] {
    ConvEntry& e = fwd_cache().get(conv_key("fwd", p, x, w, bias), [&] {
      auto e = std::make_unique<ConvEntry>();
      e->x_md = md4(x);
      e->y_md = md4(y);
      e->w_user_md = memory::desc(g.w_dims, dt::f32, g.w_tag);
      auto pd = fwd_pd(g, e->x_md, e->y_md, bias);
      e->b_md = pd.bias_desc();
      e->prim = dnnl::convolution_forward(pd);
      setup_weights(*e, pd.weights_desc(), false);
      return e;
    });
    std::lock_guard<std::mutex> lock(e.mu);
    dnnl::stream& s = stream();
    memory wm = mem(e.w_user_md, w);
    if (e.reorder_w) {
      e.w_reorder.execute(s, wm, e.w_buf);
      wm = e.w_buf;
    }
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, mem(e.x_md, x)}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, mem(e.y_md, y)}};
    if (bias) args.emplace(DNNL_ARG_BIAS, mem(e.b_md, b));
    e.prim.execute(s, args);
    s.wait();
  });
}

void conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  constexpr const char* op = "conv2d_backward_data";
  const ConvGeom g = check_conv(op, p, dx, w, dy);
  guarded(op, [&] {
    ConvEntry& e = bwd_data_cache().get(conv_key("bwd_data", p, dx, w, false), [&] {
      auto e = std::make_unique<ConvEntry>();
      e->x_md = md4(dx);
      e->y_md = md4(dy);
      e->w_user_md = memory::desc(g.w_dims, dt::f32, g.w_tag);
      auto hint = fwd_pd(g, e->x_md, e->y_md, false);
      const memory::desc w_any(g.w_dims, dt::f32, tag::any);
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, e->x_md,
                                              w_any, e->y_md, g.strides, g.dilates, g.pad_l,
                                              g.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(d, engine(), hint);
      e->prim = dnnl::convolution_backward_data(pd);
      setup_weights(*e, pd.weights_desc(), false);
      return e;
    });
    std::lock_guard<std::mutex> lock(e.mu);
    dnnl::stream& s = stream();
    memory wm = mem(e.w_user_md, w);
    if (e.reorder_w) {
      e.w_reorder.execute(s, wm, e.w_buf);
      wm = e.w_buf;
    }
    e.prim.execute(s, {{DNNL_ARG_DIFF_DST, mem(e.y_md, dy)},
                       {DNNL_ARG_WEIGHTS, wm},
                       {DNNL_ARG_DIFF_SRC, mem(e.x_md, dx)}});
    s.wait();
  });
}

void conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor& db) {
  constexpr const char* op = "conv2d_backward_weights";
  const ConvGeom g = check_conv(op, p, x, dw, dy);
  const bool bias = db.defined();
  if (bias) require_vec(op, "db", db, g.out_c);
  guarded(op, [&] {
    ConvEntry& e = bwd_weights_cache().get(conv_key("bwd_weights", p, x, dw, bias), [&] {
      auto e = std::make_unique<ConvEntry>();
      e->x_md = md4(x);
      e->y_md = md4(dy);
      e->w_user_md = memory::desc(g.w_dims, dt::f32, g.w_tag);
      auto hint = fwd_pd(g, e->x_md, e->y_md, bias);
      const memory::desc w_any(g.w_dims, dt::f32, tag::any);
      const memory::desc b_md =
          bias ? memory::desc({g.out_c}, dt::f32, tag::a) : memory::desc();
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, e->x_md,
                                                 w_any, b_md, e->y_md, g.strides, g.dilates,
                                                 g.pad_l, g.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), hint);
      e->b_md = pd.diff_bias_desc();
      e->prim = dnnl::convolution_backward_weights(pd);
      setup_weights(*e, pd.diff_weights_desc(), true);
      return e;
    });
    std::lock_guard<std::mutex> lock(e.mu);
    dnnl::stream& s = stream();
    memory dw_user = mem(e.w_user_md, dw);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(e.x_md, x)},
                                         {DNNL_ARG_DIFF_DST, mem(e.y_md, dy)},
                                         {DNNL_ARG_DIFF_WEIGHTS, e.reorder_w ? e.w_buf : dw_user}};
    if (bias) args.emplace(DNNL_ARG_DIFF_BIAS, mem(e.b_md, db));
    e.prim.execute(s, args);
    if (e.reorder_w) e.w_reorder.execute(s, e.w_buf, dw_user);
    s.wait();
  });
}

}  // namespace scaledl::cpu
