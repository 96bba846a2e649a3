// Plan building: one oneDNN primitive per node (fused post-ops included), with reorders inserted
// wherever a reader wants another layout, data type or scale than the producer wrote.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "backend/cpu/dnnl_common.h"
#include "core/error.h"
#include "infer/plan.h"

namespace scaledl::infer {

using namespace cpu::dnnl_detail;
using dnnl::algorithm;
using dnnl::prop_kind;

float scale_for(float threshold, bool nonneg) {
  const float t = threshold > 1e-12f ? threshold : 1e-12f;
  return (nonneg ? 255.f : 127.f) / t;
}

namespace {

dt mode_dt(Mode m, bool nonneg) {
  switch (m) {
    case Mode::f32:
      return dt::f32;
    case Mode::bf16:
      return dt::bf16;
    case Mode::int8:
      return nonneg ? dt::u8 : dt::s8;
  }
  return dt::f32;
}
bool is_int8(dt t) {
  return t == dt::s8 || t == dt::u8;
}

memory::desc with_dt(const memory::desc& md, dt t) {
  dnnl_memory_desc_t c = md.data;
  c.data_type = static_cast<dnnl_data_type_t>(t);
  return memory::desc(c);
}

// A fused ReLU (capped: ReLU6) as a post-op; `scale` is the output scale the post-op sees
// (int8: values are already in the destination's scale when post-ops run).
void append_relu(dnnl::post_ops& po, const Fused& f, float scale) {
  if (!f.relu) return;
  if (f.relu_cap > 0.f)
    po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, f.relu_cap * scale);
  else
    po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
}

dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

class Builder {
 public:
  Builder(const Graph& g, const EngineOptions& o, Engine::Weights& w, int64_t batch)
      : g_(g), o_(o), w_(w), plan_(std::make_unique<Engine::Plan>()), readers_(g.readers()) {
    plan_->batch = batch;
  }

  std::unique_ptr<Engine::Plan> build() {
    Engine::Plan& p = *plan_;
    p.node_value.assign(static_cast<size_t>(g_.size()), -1);
    Shape in{p.batch};
    for (int64_t d : g_.input_shape()) in.push_back(d);
    p.input = add_value(memory::desc(in, dt::f32, in.size() == 4 ? tag::nchw : tag::nc));
    p.values[p.input].external = true;
    p.node_value[0] = p.input;
    for (int i = 1; i < g_.size(); ++i) {
      node_ = i;
      try {
        p.node_value[i] = emit(g_.node(i));
      } catch (const dnnl::error& e) {
        throw Error("infer", "node " + g_.node(i).name + " (" +
                                 std::string(op_kind_name(g_.node(i).kind)) +
                                 "): oneDNN cannot build it: " + e.what());
      }
      if (!p.steps.empty() && p.steps.back().node < 0 && g_.node(i).kind != OpKind::flatten)
        p.steps.back().node = i;
    }
    finish_output();
    return std::move(plan_);
  }

 private:
  // --- values and steps ---
  int add_value(const memory::desc& md, float scale = 1.f) {
    Value v;
    v.md = md;
    v.scale = scale;
    plan_->values.push_back(std::move(v));
    return static_cast<int>(plan_->values.size()) - 1;
  }
  Value& val(int v) { return plan_->values[static_cast<size_t>(v)]; }

  void add_step(dnnl::primitive prim, std::vector<std::pair<int, int>> values,
                std::unordered_map<int, memory> consts, const dnnl::primitive_desc_base& pd) {
    scratch_bytes_ =
        std::max<int64_t>(scratch_bytes_, static_cast<int64_t>(pd.scratchpad_desc().get_size()));
    Step s;
    s.prim = std::move(prim);
    s.values = std::move(values);
    s.args = std::move(consts);
    plan_->steps.push_back(std::move(s));
  }

  // Value v converted to descriptor md and scale (a reorder step), or v itself when it already
  // is; conversions are shared by every reader that wants the same.
  int want(int v, const memory::desc& md, float scale) {
    if (val(v).md == md && val(v).scale == scale) return v;
    for (const Conversion& c : conversions_)
      if (c.from == v && c.md == md && c.scale == scale) return c.to;
    const int to = convert(v, md, scale);
    conversions_.push_back({v, md, scale, to});
    return to;
  }
  int convert(int v, const memory::desc& md, float scale) {
    dnnl::primitive_attr attr = base_attr();
    const float ratio = scale / val(v).scale;
    if (ratio != 1.f) attr.set_output_scales(0, {ratio});
    dnnl::reorder::primitive_desc pd(engine(), val(v).md, engine(), md, attr);
    const int to = add_value(md, scale);
    add_step(dnnl::reorder(pd), {{DNNL_ARG_FROM, v}, {DNNL_ARG_TO, to}}, {}, pd);
    return to;
  }

  // --- precisions and scales ---
  Mode mode(int i) const { return w_.modes[static_cast<size_t>(i)]; }
  // The threshold a node's int8 output uses: a concatenation's readers share its one scale.
  float act_scale(int i) const {
    while (g_.node(i).kind == OpKind::flatten) i = g_.node(i).inputs[0];
    int t = i;
    for (int r : readers_[i])
      if (g_.node(r).kind == OpKind::concat) t = r;
    const std::string& name = t == 0 ? std::string("input") : g_.node(t).name;
    auto it = o_.thresholds.find(name);
    if (it == o_.thresholds.end())
      throw Error("infer", "no calibration threshold for tensor '" + name +
                               "'; recalibrate (--calib-data) or delete the calibration cache");
    return scale_for(it->second, nonnegative(g_, i));
  }
  // The data type and scale node i's int8/bf16/f32 input should arrive in.
  std::pair<dt, float> input_type(int i, int input_node) const {
    const Mode m = mode(i);
    if (m != Mode::int8) return {mode_dt(m, false), 1.f};
    const Value& v = plan_->values[static_cast<size_t>(plan_->node_value[input_node])];
    if (is_int8(v.md.data_type())) return {v.md.data_type(), v.scale};
    return {mode_dt(m, nonnegative(g_, input_node)), act_scale(input_node)};
  }
  // The data type and scale of node i's output.
  std::pair<dt, float> output_type(int i) const {
    const Mode m = mode(i);
    if (m != Mode::int8 || i == g_.output())
      return {m == Mode::bf16 && i != g_.output() ? dt::bf16 : dt::f32, 1.f};
    const bool all_f32 = std::all_of(readers_[i].begin(), readers_[i].end(),
                                     [&](int r) { return mode(r) == Mode::f32; });
    if (all_f32) return {dt::f32, 1.f};
    return {mode_dt(m, nonnegative(g_, i)), act_scale(i)};
  }

  int in_value(int k = 0) const { return plan_->node_value[g_.node(node_).inputs[k]]; }

  // --- node kinds ---
  int emit(const Node& n);
  int emit_conv(const Node& n);
  int emit_linear(const Node& n);
  int emit_pool(const Node& n);
  int emit_relu(const Node& n);           // relu and clip
  int emit_normalization(const Node& n);  // softmax and lrn, in f32
  int emit_concat(const Node& n);
  int emit_add(const Node& n);
  int emit_batchnorm(const Node& n);
  int emit_channel_pad(const Node& n);
  memory packed_weights(const Node& n, const memory::desc& user, const memory::desc& want);
  memory bias_for(const Node& n, float in_scale);
  std::vector<float> output_scales(const Node& n, float in_scale, float out_scale);
  // The residual of a fused sum in the convolution's destination: in place when this is its
  // last reader, its layout matches and it is not the convolution's source `src` (a
  // convolution must not overwrite what it reads), else a copy. Returns (value, sum scale, sum
  // data type).
  int residual_into_dst(int r, int src, const memory::desc& dst, float dst_scale, float& sum_scale,
                        dt& sum_dt);
  void finish_output();

  struct Conversion {
    int from;
    memory::desc md;
    float scale;
    int to;
  };

  const Graph& g_;
  const EngineOptions& o_;
  Engine::Weights& w_;
  std::unique_ptr<Engine::Plan> plan_;
  std::vector<std::vector<int>> readers_;
  std::vector<Conversion> conversions_;
  int node_ = 0;

 public:
  int64_t scratch_bytes_ = 0;
};

int Builder::emit(const Node& n) {
  switch (n.kind) {
    case OpKind::conv2d:
      return emit_conv(n);
    case OpKind::linear:
      return emit_linear(n);
    case OpKind::maxpool2d:
    case OpKind::avgpool2d:
    case OpKind::global_avgpool:
      return emit_pool(n);
    case OpKind::relu:
    case OpKind::clip:
      return emit_relu(n);
    case OpKind::softmax:
    case OpKind::lrn:
      return emit_normalization(n);
    case OpKind::concat:
      return emit_concat(n);
    case OpKind::add:
      return emit_add(n);
    case OpKind::batchnorm2d:
      return emit_batchnorm(n);
    case OpKind::channel_pad:
      return emit_channel_pad(n);
    case OpKind::flatten:
      return in_value();  // the linear reading it takes the 4-D value
    default:
      break;
  }
  throw Error("infer", "node " + n.name + ": the engine cannot run " +
                           std::string(op_kind_name(n.kind)) +
                           " nodes (run the inference passes first)");
}

memory Builder::packed_weights(const Node& n, const memory::desc& user, const memory::desc& want) {
  for (const Engine::Weights::Packed& p : w_.packed[n.name])
    if (p.md == want) return p.mem;
  const Tensor& wv = n.value("weight");
  memory src(user, engine(), wv.raw());
  memory dst(want, engine());
  dnnl::primitive_attr attr;
  if (is_int8(want.data_type())) {
    const std::vector<float>& s = w_.scales.at(n.name);
    attr.set_output_scales(user.dims().size() == 5 ? 3 : 1, s);
  }
  dnnl::reorder(dnnl::reorder::primitive_desc(engine(), user, engine(), want, attr))
      .execute(stream(), src, dst);
  stream().wait();
  w_.packed[n.name].push_back({want, dst});
  // oneDNN's own 7-bit weights (s8 input); the engine's (u8 input, inner products) are already
  // recorded, and the two never meet on one node.
  if (want.data.extra.flags & dnnl_memory_extra_flag_scale_adjust)
    w_.adjust.emplace(n.name, want.data.extra.scale_adjust);
  w_.bytes += static_cast<int64_t>(want.get_size());
  return dst;
}

memory Builder::bias_for(const Node& n, float in_scale) {
  const std::string key = n.name + "|" + std::to_string(in_scale);
  auto it = w_.biases.find(key);
  if (it != w_.biases.end()) return it->second;
  const Tensor& b = n.value("bias");
  const int64_t O = b.numel();
  memory m(memory::desc({O}, dt::f32, tag::x), engine());
  float* d = static_cast<float*>(m.get_data_handle());
  auto s = w_.scales.find(n.name);
  for (int64_t o = 0; o < O; ++o)  // int8: the accumulator's scale, s_in * s_w[o]
    d[o] = b.data<float>()[o] * (s == w_.scales.end() ? 1.f : in_scale * s->second[o]);
  w_.biases.emplace(key, m);
  return m;
}

std::vector<float> Builder::output_scales(const Node& n, float in_scale, float out_scale) {
  std::vector<float> s = w_.scales.at(n.name);
  for (float& v : s) v = out_scale / (in_scale * v);
  return s;
}

int Builder::residual_into_dst(int r, int src, const memory::desc& dst, float dst_scale,
                               float& sum_scale, dt& sum_dt) {
  const Value& rv = val(r);
  const int rn = g_.node(node_).inputs[1];
  auto root = [&](int v) {
    while (val(v).alias >= 0) v = val(v).alias;
    return v;
  };
  // Seen when the residual is also the source (y = conv(h) + h) and no reorder stood between
  // them: on AVX-512 both are nhwc, and the convolution overwrote h while reading it.
  const bool last_reader =
      !rv.external && rn != g_.output() && root(r) != root(src) &&
      std::all_of(readers_[rn].begin(), readers_[rn].end(), [&](int k) { return k <= node_; }) &&
      std::none_of(conversions_.begin(), conversions_.end(),
                   [&](const Conversion& c) { return c.from == r; });
  const bool same_size =
      rv.md.get_size() == dst.get_size() && with_dt(rv.md, dst.data_type()) == dst;
  if (last_reader && same_size) {  // a chain of in-place sums shares one buffer
    sum_scale = dst_scale / rv.scale;
    sum_dt = rv.md.data_type() == dst.data_type() ? dt::undef : rv.md.data_type();
    return r;
  }
  sum_scale = 1.f;
  sum_dt = dt::undef;
  return convert(r, dst, dst_scale);
}

int Builder::emit_conv(const Node& n) {
  const ConvAttrs& a = n.as<ConvAttrs>();
  const int x = in_value();
  const memory::dims xd = val(x).md.dims();
  const int64_t N = xd[0], C = xd[1], O = a.out, G = a.p.groups, K = a.kernel;
  const memory::dims yd{N, O, n.shape[1], n.shape[2]};
  const auto [src_dt, src_scale] = input_type(node_, n.inputs[0]);
  const auto [dst_dt, dst_scale] = output_type(node_);
  const Mode m = mode(node_);
  const dt w_dt = m == Mode::int8 ? dt::s8 : m == Mode::bf16 ? dt::bf16 : dt::f32;
  const memory::dims wd = G == 1 ? memory::dims{O, C, K, K} : memory::dims{G, O / G, C / G, K, K};
  const memory::desc w_user(wd, dt::f32, G == 1 ? tag::oihw : tag::goihw);
  const memory::dims strides{a.p.stride_h, a.p.stride_w}, dil{a.p.dil_h - 1, a.p.dil_w - 1};
  const memory::dims pad{a.p.pad_h, a.p.pad_w};
  const bool bias = a.bias;
  auto make_pd = [&](float sum_scale, dt sum_dt) {
    dnnl::primitive_attr attr = base_attr();
    if (m == Mode::int8) attr.set_output_scales(1 << 1, output_scales(n, src_scale, dst_scale));
    dnnl::post_ops po;
    if (a.fused.sum) po.append_sum(sum_scale, sum_dt);
    append_relu(po, a.fused, dst_scale);
    attr.set_post_ops(po);
    const memory::desc src_any(xd, src_dt, tag::any), dst_any(yd, dst_dt, tag::any);
    const memory::desc w_any(wd, w_dt, tag::any), b_md({O}, dt::f32, tag::x);
    auto d = bias ? dnnl::convolution_forward::desc(prop_kind::forward_inference,
                                                    algorithm::convolution_direct, src_any, w_any,
                                                    b_md, dst_any, strides, dil, pad, pad)
                  : dnnl::convolution_forward::desc(prop_kind::forward_inference,
                                                    algorithm::convolution_direct, src_any, w_any,
                                                    dst_any, strides, dil, pad, pad);
    return dnnl::convolution_forward::primitive_desc(d, attr, engine());
  };
  auto pd = make_pd(1.f, dt::undef);
  const int src = want(x, pd.src_desc(), src_scale);
  int dst = -1;
  if (a.fused.sum) {
    float sum_scale = 1.f;
    dt sum_dt = dt::undef;
    const int r = residual_into_dst(in_value(1), src, pd.dst_desc(), dst_scale, sum_scale, sum_dt);
    if (sum_scale != 1.f || sum_dt != dt::undef) {
      auto pd2 = make_pd(sum_scale, sum_dt);
      if (pd2.dst_desc() != pd.dst_desc() || pd2.src_desc() != pd.src_desc())
        throw Error("infer", "node " + n.name + ": oneDNN changed layouts for the fused sum");
      pd = pd2;
    }
    dst = add_value(pd.dst_desc(), dst_scale);
    val(dst).alias = r;
  } else {
    dst = add_value(pd.dst_desc(), dst_scale);
  }
  std::unordered_map<int, memory> consts{
      {DNNL_ARG_WEIGHTS, packed_weights(n, w_user, pd.weights_desc())}};
  if (bias) consts[DNNL_ARG_BIAS] = bias_for(n, src_scale);
  add_step(dnnl::convolution_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
           std::move(consts), pd);
  return dst;
}

int Builder::emit_linear(const Node& n) {
  const LinearAttrs& a = n.as<LinearAttrs>();
  if (a.fused.sum) throw Error("infer", "node " + n.name + ": a fused sum on a linear node");
  const int x = in_value();
  const memory::dims xd = val(x).md.dims();
  const int64_t O = a.out;
  const auto [src_dt, src_scale] = input_type(node_, n.inputs[0]);
  const auto [dst_dt, dst_scale] = output_type(node_);
  const Mode m = mode(node_);
  const dt w_dt = m == Mode::int8 ? dt::s8 : m == Mode::bf16 ? dt::bf16 : dt::f32;
  memory::dims wd = xd;
  wd[0] = O;  // [O, F] or, reading a flattened 4-D value, [O, C, H, W] (PyTorch's order)
  const memory::desc w_user(wd, dt::f32, wd.size() == 4 ? tag::oihw : tag::oi);
  dnnl::primitive_attr attr = base_attr();
  if (m == Mode::int8) attr.set_output_scales(1 << 1, output_scales(n, src_scale, dst_scale));
  if (a.fused.relu) {
    dnnl::post_ops po;
    append_relu(po, a.fused, dst_scale);
    attr.set_post_ops(po);
  }
  const memory::desc src_any(xd, src_dt, tag::any), w_any(wd, w_dt, tag::any);
  const memory::desc dst_md({xd[0], O}, dst_dt, tag::nc), b_md({O}, dt::f32, tag::x);
  auto d = a.bias ? dnnl::inner_product_forward::desc(prop_kind::forward_inference, src_any, w_any,
                                                      b_md, dst_md)
                  : dnnl::inner_product_forward::desc(prop_kind::forward_inference, src_any, w_any,
                                                      dst_md);
  dnnl::inner_product_forward::primitive_desc pd(d, attr, engine());
  const int src = want(x, pd.src_desc(), src_scale);
  const int dst = add_value(pd.dst_desc(), dst_scale);
  std::unordered_map<int, memory> consts{
      {DNNL_ARG_WEIGHTS, packed_weights(n, w_user, pd.weights_desc())}};
  if (a.bias) consts[DNNL_ARG_BIAS] = bias_for(n, src_scale);
  add_step(dnnl::inner_product_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
           std::move(consts), pd);
  return dst;
}

int Builder::emit_pool(const Node& n) {
  int x = in_value();
  if (mode(node_) == Mode::f32 && val(x).md.data_type() != dt::f32)
    x = want(x, with_dt(val(x).md, dt::f32), 1.f);
  const memory::dims xd = val(x).md.dims();
  const int64_t H = xd[2], W = xd[3];
  Pool2dParams p;
  algorithm alg = algorithm::pooling_max;
  if (n.kind == OpKind::global_avgpool) {
    p = {static_cast<int>(H), static_cast<int>(W), 1, 1, 0, 0, false, false};
    alg = algorithm::pooling_avg_exclude_padding;
  } else {
    p = n.as<PoolAttrs>().p;
    if (n.kind == OpKind::avgpool2d)
      alg = p.count_include_pad ? algorithm::pooling_avg_include_padding
                                : algorithm::pooling_avg_exclude_padding;
  }
  const int64_t OH = pool_out_size(H, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  const int64_t OW = pool_out_size(W, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  const memory::dims pad_r{
      std::max<int64_t>(p.pad_h, (OH - 1) * p.stride_h + p.kernel_h - H - p.pad_h),
      std::max<int64_t>(p.pad_w, (OW - 1) * p.stride_w + p.kernel_w - W - p.pad_w)};
  if (alg == algorithm::pooling_avg_include_padding && (pad_r[0] > p.pad_h || pad_r[1] > p.pad_w))
    throw Error("infer", "node " + n.name +
                             ": ceil-mode average pooling counting padding past "
                             "the input's edge is not supported by the engine");
  const memory::desc dst_any({xd[0], xd[1], OH, OW}, val(x).md.data_type(), tag::any);
  dnnl::pooling_forward::desc d(prop_kind::forward_inference, alg, val(x).md, dst_any,
                                {p.stride_h, p.stride_w}, {p.kernel_h, p.kernel_w},
                                {p.pad_h, p.pad_w}, pad_r);
  dnnl::pooling_forward::primitive_desc pd(d, base_attr(), engine());
  const int dst = add_value(pd.dst_desc(), val(x).scale);
  add_step(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, dst}}, {}, pd);
  return dst;
}

int Builder::emit_relu(const Node& n) {
  int x = in_value();
  if (mode(node_) == Mode::f32 && val(x).md.data_type() != dt::f32)
    x = want(x, with_dt(val(x).md, dt::f32), 1.f);
  const bool clip = n.kind == OpKind::clip;
  const float lo = clip ? n.as<ClipAttrs>().lo * val(x).scale : 0.f;
  const float hi = clip ? n.as<ClipAttrs>().hi * val(x).scale : 0.f;
  dnnl::eltwise_forward::desc d(prop_kind::forward_inference,
                                clip ? algorithm::eltwise_clip : algorithm::eltwise_relu, val(x).md,
                                lo, hi);
  dnnl::eltwise_forward::primitive_desc pd(d, base_attr(), engine());
  const int dst = add_value(pd.dst_desc(), val(x).scale);
  add_step(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, dst}}, {}, pd);
  return dst;
}

int Builder::emit_normalization(const Node& n) {
  const int x = want(in_value(), with_dt(val(in_value()).md, dt::f32), 1.f);
  int dst = -1;
  if (n.kind == OpKind::softmax) {
    dnnl::softmax_forward::desc d(prop_kind::forward_inference, val(x).md, 1);
    dnnl::softmax_forward::primitive_desc pd(d, base_attr(), engine());
    dst = add_value(pd.dst_desc());
    add_step(dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, dst}}, {}, pd);
  } else {
    const LrnAttrs& a = n.as<LrnAttrs>();
    if (a.size % 2 == 0)
      throw Error("infer", "node " + n.name + ": LRN over an even number of channels (" +
                               std::to_string(a.size) + ") is not supported; use an odd size");
    dnnl::lrn_forward::desc d(prop_kind::forward_inference, algorithm::lrn_across_channels,
                              val(x).md, a.size, a.alpha, a.beta, a.bias);
    dnnl::lrn_forward::primitive_desc pd(d, base_attr(), engine());
    dst = add_value(pd.dst_desc());
    add_step(dnnl::lrn_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, dst}}, {}, pd);
  }
  return dst;
}

int Builder::emit_concat(const Node& n) {
  // One data type and scale for all inputs: the node's mode (int8: the concat's own scale,
  // which act_scale gives its int8 producers too, so they need no requantization).
  const Mode m = mode(node_);
  const dt t = mode_dt(m, nonnegative(g_, node_));
  const float scale = m == Mode::int8 ? act_scale(node_) : 1.f;
  std::vector<int> xs;
  std::vector<memory::desc> mds;
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const int v = in_value(static_cast<int>(k));
    xs.push_back(want(v, with_dt(val(v).md, t), scale));
    mds.push_back(val(xs.back()).md);
  }
  memory::dims yd = mds[0].dims();
  yd[1] = n.shape[0];
  dnnl::concat::primitive_desc pd(memory::desc(yd, t, tag::any), 1, mds, engine(), base_attr());
  const int dst = add_value(pd.dst_desc(), scale);
  std::vector<std::pair<int, int>> args{{DNNL_ARG_DST, dst}};
  for (size_t k = 0; k < xs.size(); ++k)
    args.emplace_back(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k), xs[k]);
  add_step(dnnl::concat(pd), std::move(args), {}, pd);
  return dst;
}

int Builder::emit_add(const Node&) {
  const dt t = mode(node_) == Mode::bf16 ? dt::bf16 : dt::f32;
  const int a = want(in_value(0), with_dt(val(in_value(0)).md, t), 1.f);
  const int b = want(in_value(1), val(a).md, 1.f);
  dnnl::binary::desc d(algorithm::binary_add, val(a).md, val(b).md, val(a).md);
  dnnl::binary::primitive_desc pd(d, base_attr(), engine());
  const int dst = add_value(pd.dst_desc());
  add_step(dnnl::binary(pd), {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b}, {DNNL_ARG_DST, dst}}, {},
           pd);
  return dst;
}

int Builder::emit_batchnorm(const Node& n) {
  const int x = want(in_value(), with_dt(val(in_value()).md, dt::f32), 1.f);
  const auto flags = dnnl::normalization_flags::use_global_stats |
                     dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc d(prop_kind::forward_inference, val(x).md,
                                            n.as<BatchNormAttrs>().p.eps, flags);
  dnnl::batch_normalization_forward::primitive_desc pd(d, base_attr(), engine());
  auto host = [&](const char* name) {
    const Tensor& t = n.value(name);
    return memory(memory::desc({t.numel()}, dt::f32, tag::x), engine(), t.raw());
  };
  const int dst = add_value(pd.dst_desc());
  add_step(dnnl::batch_normalization_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, dst}},
           {{DNNL_ARG_MEAN, host("running_mean")},
            {DNNL_ARG_VARIANCE, host("running_var")},
            {DNNL_ARG_SCALE, host("weight")},
            {DNNL_ARG_SHIFT, host("bias")}},
           pd);
  return dst;
}

int Builder::emit_channel_pad(const Node& n) {
  const int x = want(in_value(), with_dt(val(in_value()).md, dt::f32), 1.f);
  memory::dims zd = val(x).md.dims();
  zd[1] = n.as<ChannelPadAttrs>().extra;
  memory zeros(memory::desc(zd, dt::f32, tag::nchw), engine());
  std::fill_n(static_cast<float*>(zeros.get_data_handle()), zeros.get_desc().get_size() / 4, 0.f);
  memory::dims yd = zd;
  yd[1] = n.shape[0];
  dnnl::concat::primitive_desc pd(memory::desc(yd, dt::f32, tag::any), 1,
                                  {val(x).md, zeros.get_desc()}, engine(), base_attr());
  const int dst = add_value(pd.dst_desc());
  add_step(dnnl::concat(pd), {{DNNL_ARG_MULTIPLE_SRC, x}, {DNNL_ARG_DST, dst}},
           {{DNNL_ARG_MULTIPLE_SRC + 1, zeros}}, pd);
  return dst;
}

void Builder::finish_output() {
  Engine::Plan& p = *plan_;
  const int v = p.node_value[g_.output()];
  const memory::dims d = val(v).md.dims();
  const memory::desc plain(d, dt::f32, d.size() == 4 ? tag::nchw : tag::nc);
  int out = want(v, plain, 1.f);
  // The output tensor is its own memory: never the input's, nor a sum's shared with a residual.
  if (out == p.input || val(out).alias >= 0) out = convert(v, plain, 1.f);
  Shape s(d.begin(), d.end());
  p.out = Tensor::empty(s);
  val(out).external = true;
  val(out).alias = -1;
  p.output = out;
}

}  // namespace

std::unique_ptr<Engine::Plan> build_plan(const Graph& g, const EngineOptions& o, Engine::Weights& w,
                                         int64_t batch) {
  Builder b(g, o, w, batch);
  std::unique_ptr<Engine::Plan> plan = b.build();
  Engine::Plan& p = *plan;
  // Lifetimes (an alias extends its root's), then one arena by liveness.
  auto root = [&](int v) {
    while (p.values[static_cast<size_t>(v)].alias >= 0) v = p.values[static_cast<size_t>(v)].alias;
    return v;
  };
  for (size_t s = 0; s < p.steps.size(); ++s)
    for (const auto& [arg, v] : p.steps[s].values) {
      Value& r = p.values[static_cast<size_t>(root(v))];
      if (r.first < 0) r.first = static_cast<int>(s);
      r.last = std::max(r.last, static_cast<int>(s));
    }
  std::vector<int> planned;
  std::vector<BufferLife> lives;
  for (size_t v = 0; v < p.values.size(); ++v) {
    const Value& x = p.values[v];
    if (x.external || x.alias >= 0 || x.first < 0) continue;
    planned.push_back(static_cast<int>(v));
    lives.push_back({static_cast<int64_t>(x.md.get_size()), x.first, x.last});
  }
  p.memory = plan_memory(lives);
  p.arena.reset(static_cast<uint8_t*>(std::aligned_alloc(
                    64, static_cast<size_t>(std::max<int64_t>(p.memory.arena_bytes, 64)))),
                std::free);
  p.scratchpad.reset(static_cast<uint8_t*>(std::aligned_alloc(
                         64, static_cast<size_t>((b.scratch_bytes_ + 127) / 64 * 64))),
                     std::free);
  std::vector<int64_t> offset(p.values.size(), -1);
  for (size_t k = 0; k < planned.size(); ++k)
    offset[static_cast<size_t>(planned[k])] = p.memory.offsets[k];
  for (size_t v = 0; v < p.values.size(); ++v) {
    Value& x = p.values[v];
    if (static_cast<int>(v) == p.output)
      x.mem = memory(x.md, engine(), p.out.raw());
    else if (x.external)
      x.mem = memory(x.md, engine(), DNNL_MEMORY_NONE);
    else if (x.first >= 0 || x.alias >= 0)
      x.mem = memory(x.md, engine(),
                     p.arena.get() + offset[static_cast<size_t>(root(static_cast<int>(v)))]);
  }
  const memory scratch(memory::desc({std::max<int64_t>(b.scratch_bytes_, 1)}, dt::u8, tag::x),
                       engine(), p.scratchpad.get());
  for (Step& s : p.steps) {
    for (const auto& [arg, v] : s.values) s.args[arg] = p.values[static_cast<size_t>(v)].mem;
    s.args[DNNL_ARG_SCRATCHPAD] = scratch;
  }
  return plan;
}

}  // namespace scaledl::infer
