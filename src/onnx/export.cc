// ONNX export (see export.h): one walk over the graph's nodes, each becoming one to three ONNX
// nodes (a convolution with a fused residual and ReLU: Conv, Add, Relu), with QDQ pairs in int8.
#include "onnx/export.h"

#include <cmath>
#include <sstream>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "infer/passes/passes.h"
#include "infer/quant.h"
#include "onnx/tensor_proto.h"

namespace scaledl::onnxio {

namespace {

std::string join(const std::vector<float>& v) {
  std::ostringstream s;
  s.precision(9);
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  return s.str();
}

class Exporter {
 public:
  Exporter(const Graph& g, const ExportOptions& o) : g_(g), o_(o), readers_(g.size()) {
    for (int i = 1; i < g.size(); ++i)
      for (int j : g.node(i).inputs) readers_[static_cast<size_t>(j)].push_back(i);
  }

  onnx::ModelProto build() {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.set_producer_name("scaledl");
    m.set_producer_version(SCALEDL_VERSION);
    m.add_opset_import()->set_version(o_.opset);
    auto meta = [&](const std::string& k, const std::string& v) {
      onnx::StringStringEntryProto* e = m.add_metadata_props();
      e->set_key(k);
      e->set_value(v);
    };
    if (!o_.model_name.empty()) meta("scaledl.model", o_.model_name);
    if (!o_.mean.empty()) meta("scaledl.mean", join(o_.mean));
    if (!o_.stddev.empty()) meta("scaledl.std", join(o_.stddev));
    meta("scaledl.precision", o_.int8 ? "int8" : "fp32");
    gp_ = m.mutable_graph();
    gp_->set_name(g_.name());
    value_info(gp_->add_input(), "input", g_.input_shape());
    tensor_.assign(static_cast<size_t>(g_.size()), "");
    tensor_[0] = quantized(0, "input");
    for (int i = 1; i < g_.size(); ++i) {
      try {
        tensor_[static_cast<size_t>(i)] = quantized(i, emit(i));
      } catch (const Error& e) {
        throw Error("onnx", "export: node " + g_.node(i).name + " (" +
                                std::string(op_kind_name(g_.node(i).kind)) + "): " + e.message());
      }
    }
    node("Identity", "output", {tensor_[static_cast<size_t>(g_.output())]}, "logits");
    value_info(gp_->add_output(), "logits", g_.output_shape());
    return m;
  }

 private:
  // --- ONNX building blocks ---
  static void value_info(onnx::ValueInfoProto* v, const std::string& name, const Shape& sample) {
    v->set_name(name);
    onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    onnx::TensorShapeProto* s = t->mutable_shape();
    s->add_dim()->set_dim_param("N");
    for (int64_t d : sample) s->add_dim()->set_dim_value(d);
  }
  onnx::NodeProto* node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs, const std::string& output) {
    onnx::NodeProto* n = gp_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string& i : inputs) n->add_input(i);
    n->add_output(output);
    return n;
  }
  static void ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void int_attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void float_attr(onnx::NodeProto* n, const std::string& name, float v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  std::string init_floats(const std::string& name, const Shape& dims, const float* v) {
    set_floats(*gp_->add_initializer(), name, dims, v);
    return name;
  }
  std::string scalar(const std::string& name, float v) { return init_floats(name, {}, &v); }
  std::string in(int i, int k = 0) const {
    return tensor_[static_cast<size_t>(g_.node(i).inputs.at(static_cast<size_t>(k)))];
  }

  // --- int8 ---
  // The threshold the Engine quantizes node i's output with (a concatenation's readers share
  // the concatenation's; pools and ReLUs keep their input's), or 0 where it stays float.
  float threshold(int i) const {
    if (!o_.int8 || i == g_.output() || g_.node(i).kind == OpKind::flatten) return 0.f;
    switch (g_.node(i).kind) {  // these run on int8 values and keep their input's scale
      case OpKind::maxpool2d:
      case OpKind::avgpool2d:
      case OpKind::global_avgpool:
      case OpKind::relu:
        if (g_.node(i).inputs[0] != g_.output()) return threshold(g_.node(i).inputs[0]);
        break;
      default:
        break;
    }
    int t = i;
    for (int r : readers_[static_cast<size_t>(i)])
      if (g_.node(r).kind == OpKind::concat) t = r;
    const std::string& name = t == 0 ? std::string("input") : g_.node(t).name;
    auto it = o_.thresholds.find(name);
    if (it == o_.thresholds.end())
      throw Error("onnx", "no calibration threshold for tensor '" + name + "'");
    return it->second;
  }
  // x quantized and dequantized as the Engine stores node i's output.
  std::string quantized(int i, const std::string& x) {
    const float t = threshold(i);
    if (t <= 0.f) return x;
    const bool u8 = infer::nonnegative(g_, i);
    const std::string base = i == 0 ? std::string("input") : g_.node(i).name;
    const std::string s = scalar(base + ".act_scale", 1.f / infer::scale_for(t, u8));
    onnx::TensorProto* z = gp_->add_initializer();
    if (u8)
      set_uint8s(*z, base + ".act_zero_point", {}, {0});
    else
      set_int8s(*z, base + ".act_zero_point", {}, {0});
    node("QuantizeLinear", base + "/quantize", {x, s, z->name()}, base + "/q");
    node("DequantizeLinear", base + "/dequantize", {base + "/q", s, z->name()}, base + "/dq");
    return base + "/dq";
  }
  // The weight of conv/linear node i: float, or s8 per output channel with a DequantizeLinear.
  std::string weight(int i, const Shape& dims) {
    const Node& n = g_.node(i);
    const Tensor& w = n.value("weight");
    if (!o_.int8) return init_floats(n.name + ".weight", dims, w.data<float>());
    const std::vector<float> scales = infer::weight_scales(w);
    const int64_t per = w.numel() / dims[0];
    std::vector<int8_t> q(static_cast<size_t>(w.numel()));
    std::vector<float> inv(scales.size());
    for (int64_t o = 0; o < dims[0]; ++o) {
      inv[static_cast<size_t>(o)] = 1.f / scales[static_cast<size_t>(o)];
      for (int64_t k = 0; k < per; ++k) {
        const float v =
            std::nearbyint(w.data<float>()[o * per + k] * scales[static_cast<size_t>(o)]);
        q[static_cast<size_t>(o * per + k)] =
            static_cast<int8_t>(std::fmax(-127.f, std::fmin(127.f, v)));
      }
    }
    set_int8s(*gp_->add_initializer(), n.name + ".weight_q", dims, q);
    init_floats(n.name + ".weight_scale", {dims[0]}, inv.data());
    std::vector<int8_t> zeros(static_cast<size_t>(dims[0]), 0);
    set_int8s(*gp_->add_initializer(), n.name + ".weight_zero_point", {dims[0]}, zeros);
    onnx::NodeProto* d =
        node("DequantizeLinear", n.name + "/weight_dequantize",
             {n.name + ".weight_q", n.name + ".weight_scale", n.name + ".weight_zero_point"},
             n.name + ".weight");
    int_attr(d, "axis", 0);
    return n.name + ".weight";
  }
  // After a conv or linear: its fused residual add and ReLU (or ReLU6 as Clip).
  std::string fused(const Node& n, const Fused& f, std::string y, int i) {
    if (f.sum) {
      node("Add", n.name + "/add", {y, in(i, 1)}, n.name + "/sum");
      y = n.name + "/sum";
    }
    if (f.relu && f.relu_cap > 0.f) {
      node("Clip", n.name + "/relu6",
           {y, scalar(n.name + ".clip_min", 0.f), scalar(n.name + ".clip_max", f.relu_cap)},
           n.name + "/relu");
      y = n.name + "/relu";
    } else if (f.relu) {
      node("Relu", n.name + "/relu", {y}, n.name + "/relu");
      y = n.name + "/relu";
    }
    return y;
  }

  std::string emit(int i) {
    const Node& n = g_.node(i);
    const std::string& y = n.name;
    switch (n.kind) {
      case OpKind::conv2d: {
        const ConvAttrs& a = n.as<ConvAttrs>();
        const int64_t cin = g_.node(n.inputs[0]).shape[0];
        std::vector<std::string> ins{in(i),
                                     weight(i, {a.out, cin / a.p.groups, a.kernel, a.kernel})};
        if (a.bias) ins.push_back(init_floats(y + ".bias", {a.out}, n.value("bias").data<float>()));
        onnx::NodeProto* c = node("Conv", y, ins, y + "/conv");
        ints(c, "kernel_shape", {a.kernel, a.kernel});
        ints(c, "strides", {a.p.stride_h, a.p.stride_w});
        ints(c, "pads", {a.p.pad_h, a.p.pad_w, a.p.pad_h, a.p.pad_w});
        ints(c, "dilations", {a.p.dil_h, a.p.dil_w});
        int_attr(c, "group", a.p.groups);
        return fused(n, a.fused, y + "/conv", i);
      }
      case OpKind::linear: {
        const LinearAttrs& a = n.as<LinearAttrs>();
        if (a.fused.sum) throw Error("onnx", "a fused sum on a linear node");
        const int64_t f = g_.node(n.inputs[0]).shape[0];
        std::vector<std::string> ins{in(i), weight(i, {a.out, f})};
        if (a.bias) ins.push_back(init_floats(y + ".bias", {a.out}, n.value("bias").data<float>()));
        onnx::NodeProto* gm = node("Gemm", y, ins, y + "/gemm");
        int_attr(gm, "transB", 1);
        return fused(n, a.fused, y + "/gemm", i);
      }
      case OpKind::batchnorm2d: {
        const int64_t c = n.shape[0];
        std::vector<std::string> ins{in(i)};
        for (const char* k : {"weight", "bias", "running_mean", "running_var"})
          ins.push_back(init_floats(y + "." + k, {c}, n.value(k).data<float>()));
        float_attr(node("BatchNormalization", y, ins, y), "epsilon", n.as<BatchNormAttrs>().p.eps);
        return y;
      }
      case OpKind::relu:
        node("Relu", y, {in(i)}, y);
        return y;
      case OpKind::clip:
        node("Clip", y,
             {in(i), scalar(y + ".min", n.as<ClipAttrs>().lo),
              scalar(y + ".max", n.as<ClipAttrs>().hi)},
             y);
        return y;
      case OpKind::maxpool2d:
      case OpKind::avgpool2d: {
        const Pool2dParams& p = n.as<PoolAttrs>().p;
        const bool mx = n.kind == OpKind::maxpool2d;
        onnx::NodeProto* pn = node(mx ? "MaxPool" : "AveragePool", y, {in(i)}, y);
        ints(pn, "kernel_shape", {p.kernel_h, p.kernel_w});
        ints(pn, "strides", {p.stride_h, p.stride_w});
        ints(pn, "pads", {p.pad_h, p.pad_w, p.pad_h, p.pad_w});
        int_attr(pn, "ceil_mode", p.ceil_mode ? 1 : 0);
        if (!mx) int_attr(pn, "count_include_pad", p.count_include_pad ? 1 : 0);
        return y;
      }
      case OpKind::global_avgpool:  // ONNX keeps [N, C, 1, 1]; the graph's node is [N, C]
        node("GlobalAveragePool", y, {in(i)}, y + "/pool");
        int_attr(node("Flatten", y + "/flatten", {y + "/pool"}, y), "axis", 1);
        return y;
      case OpKind::flatten:
        int_attr(node("Flatten", y, {in(i)}, y), "axis", 1);
        return y;
      case OpKind::add:
        node("Add", y, {in(i, 0), in(i, 1)}, y);
        return y;
      case OpKind::concat: {
        std::vector<std::string> ins;
        for (size_t k = 0; k < n.inputs.size(); ++k) ins.push_back(in(i, static_cast<int>(k)));
        int_attr(node("Concat", y, ins, y), "axis", 1);
        return y;
      }
      case OpKind::channel_pad: {
        std::vector<int64_t> pads{0, 0, 0, 0, 0, n.as<ChannelPadAttrs>().extra, 0, 0};
        set_int64s(*gp_->add_initializer(), y + ".pads", {8}, pads);
        node("Pad", y, {in(i), y + ".pads"}, y);
        return y;
      }
      case OpKind::softmax:
        int_attr(node("Softmax", y, {in(i)}, y), "axis", 1);
        return y;
      case OpKind::lrn: {
        const LrnAttrs& a = n.as<LrnAttrs>();
        onnx::NodeProto* l = node("LRN", y, {in(i)}, y);
        int_attr(l, "size", a.size);
        float_attr(l, "alpha", a.alpha);
        float_attr(l, "beta", a.beta);
        float_attr(l, "bias", a.bias);
        return y;
      }
      case OpKind::dropout:
      case OpKind::identity:
        return in(i);
      case OpKind::input:
        break;
    }
    throw Error("onnx", "cannot be exported");
  }

  const Graph& g_;
  const ExportOptions& o_;
  std::vector<std::vector<int>> readers_;
  std::vector<std::string> tensor_;  // the ONNX tensor holding each node's output
  onnx::GraphProto* gp_ = nullptr;
};

}  // namespace

void export_onnx(const Graph& graph, const std::string& path, const ExportOptions& o) {
  if (o.opset < 13 || o.opset > 17)
    throw Error("flags", "--opset " + std::to_string(o.opset) + ": give 13 to 17");
  if (!graph.has_values()) throw Error("onnx", "export: the graph carries no weights");
  const Graph g = o.int8 ? passes::optimize_for_inference(graph) : graph;
  onnx::ModelProto m = Exporter(g, o).build();
  try {
    onnx::checker::check_model(m);
    onnx::ModelProto inferred = m;
    onnx::ShapeInferenceOptions strict{true, 1, false};
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(), strict);
  } catch (const std::exception& e) {
    throw Error("onnx", "export: the model fails ONNX's checker: " + std::string(e.what()));
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes))
    throw Error("onnx", "export: the model is over protobuf's 2 GB limit");
  write_file_atomic(path, bytes);
}

}  // namespace scaledl::onnxio
