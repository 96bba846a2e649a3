// ONNX op -> graph node mappings (see import.h for the list and what is refused).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "onnx/importer.h"

namespace scaledl::onnxio::detail {

namespace {

bool is_channel_vector(const Shape& dims, int64_t c) {
  // [C], [C,1,1], [1,C,1,1] (a per-channel constant) or [1,C]
  const int64_t n = shape_numel(dims);
  if (n != c) return false;
  int64_t big = 0;
  for (int64_t d : dims)
    if (d != 1) ++big;
  if (big > 1) return false;
  if (c == 1) return true;
  if (dims.size() == 1) return true;
  if (dims.size() == 2) return dims[1] == c;  // [1, C] against [N, C]
  if (dims.size() == 3) return dims[0] == c;
  return dims.size() == 4 && dims[1] == c;
}

}  // namespace

void Importer::map_node() {
  const std::string& op = node_->op_type();
  if (op == "Conv") return conv();
  if (op == "BatchNormalization") return batchnorm();
  if (op == "Relu") {
    only_attrs({});
    return set_out(
        {add(OpKind::relu, {}, {unpadded(value(in(0)), "Relu").node}), value(in(0)).shape});
  }
  if (op == "Clip") return clip();
  if (op == "MaxPool") return pool(true);
  if (op == "AveragePool") return pool(false);
  if (op == "GlobalAveragePool") {
    only_attrs({});
    const Value x = unpadded(value(in(0)), "GlobalAveragePool");
    if (x.shape.size() != 3) fail("needs a [N, C, H, W] input");
    const int id = add(OpKind::global_avgpool, {}, {x.node});
    return set_out({id, {x.shape[0], 1, 1}});
  }
  if (op == "Gemm") return gemm(false);
  if (op == "MatMul") return gemm(true);
  if (op == "Add") return add_or_mul(false);
  if (op == "Mul") return add_or_mul(true);
  if (op == "Flatten") return flatten_or_reshape(false);
  if (op == "Reshape") return flatten_or_reshape(true);
  if (op == "Concat") return concat();
  if (op == "Dropout" || op == "Identity") {
    if (node_->output_size() > 1 && readers_[node_->output(1)] > 0)
      fail("its mask output is read; inference has no dropout mask");
    if (auto it = init_.find(in(0)); it != init_.end()) {  // a shared weight, renamed
      init_[node_->output(0)] = it->second;
      return;
    }
    if (auto it = computed_.find(in(0)); it != computed_.end()) {
      computed_[node_->output(0)] = it->second;
      return;
    }
    return set_out(value(in(0)));
  }
  if (op == "Softmax") return softmax();
  if (op == "LRN") return lrn();
  if (op == "Pad") return pad();
  if (op == "Constant") return constant_node();
  if (op == "QuantizeLinear") return quantize();
  if (op == "DequantizeLinear") return dequantize();
  fail(
      "this op is not supported by scaledl's importer (supported: Conv, BatchNormalization, "
      "Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, Gemm, MatMul, Add, Mul, Flatten, "
      "Reshape, Concat, Dropout, Identity, Softmax, LRN, Pad, Constant, QuantizeLinear, "
      "DequantizeLinear); re-export the model without it");
}

Value Importer::unpadded(const Value& v, const char* what) const {
  if (v.padded)
    fail(std::string("a Pad before ") + what +
         " cannot be folded (only into Conv or AveragePool counting padding)");
  return v;
}

Importer::Window Importer::window(const Value& x, int64_t kh, int64_t kw, bool allow_dilation) {
  if (x.shape.size() != 3) fail("needs a [N, C, H, W] input, got " + shape_str(x.shape));
  const std::vector<int64_t> strides = attr_ints("strides", {1, 1});
  const std::vector<int64_t> dil = attr_ints("dilations", {1, 1});
  std::vector<int64_t> pads = attr_ints("pads", {0, 0, 0, 0});
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4)
    fail("strides, dilations and pads must be 2-D");
  auto in_range = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  if (!in_range(kh, 1, 1024) || !in_range(kw, 1, 1024) || !in_range(strides[0], 1, 1024) ||
      !in_range(strides[1], 1, 1024) || !in_range(dil[0], 1, 64) || !in_range(dil[1], 1, 64))
    fail("kernel, strides or dilations out of range");
  if (!allow_dilation && (dil[0] != 1 || dil[1] != 1)) fail("dilated pooling is not supported");
  const std::string auto_pad = attr_string("auto_pad", "NOTSET");
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (int a = 0; a < 2; ++a) {
      const int64_t in = x.shape[1 + a], s = strides[a], k = (a ? kw : kh), d = dil[a];
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
      const int64_t small = total / 2;
      pads[a] = auto_pad == "SAME_UPPER" ? small : total - small;
      pads[a + 2] = total - pads[a];
    }
  } else if (auto_pad == "VALID") {
    pads = {0, 0, 0, 0};
  } else if (auto_pad != "NOTSET") {
    fail("auto_pad '" + auto_pad + "' is unknown");
  }
  if (x.padded)
    for (int k = 0; k < 4; ++k) pads[k] += x.pad[k];
  for (int64_t p : pads)
    if (!in_range(p, 0, 1024)) fail("pads out of range");
  if (pads[0] != pads[2] || pads[1] != pads[3])
    fail("asymmetric padding (top/left " + std::to_string(pads[0]) + "/" + std::to_string(pads[1]) +
         ", bottom/right " + std::to_string(pads[2]) + "/" + std::to_string(pads[3]) +
         ") is not supported; export with symmetric padding");
  Window w;
  w.kh = int(kh), w.kw = int(kw), w.sh = int(strides[0]), w.sw = int(strides[1]);
  w.ph = int(pads[0]), w.pw = int(pads[1]), w.dh = int(dil[0]), w.dw = int(dil[1]);
  return w;
}

void Importer::conv() {
  only_attrs({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  const Value x = value(in(0));
  Const w = constant(in(1));
  if (w.dims.size() != 4) fail("weights must be [O, C/group, kH, kW], got " + shape_str(w.dims));
  const std::vector<int64_t> ks = attr_ints("kernel_shape", {w.dims[2], w.dims[3]});
  if (ks.size() != 2 || ks[0] != w.dims[2] || ks[1] != w.dims[3])
    fail("kernel_shape does not match the weights " + shape_str(w.dims));
  if (ks[0] != ks[1]) fail("non-square kernels are not supported");
  const Window win = window(x, ks[0], ks[1], true);
  const int64_t group = attr_int("group", 1);
  if (group < 1 || x.shape[0] % group || w.dims[1] * group != x.shape[0])
    fail("weights " + shape_str(w.dims) + " do not fit the input's " + std::to_string(x.shape[0]) +
         " channels in " + std::to_string(group) + " groups");
  ConvAttrs a;
  a.out = static_cast<int>(w.dims[0]);
  a.kernel = win.kh;
  a.p.stride_h = win.sh, a.p.stride_w = win.sw, a.p.pad_h = win.ph, a.p.pad_w = win.pw;
  a.p.dil_h = win.dh, a.p.dil_w = win.dw, a.p.groups = static_cast<int>(group);
  a.bias = input_count() > 2;
  const int id = add(OpKind::conv2d, a, {x.node});
  Node& n = g_.node(id);
  n.values["weight"] = host_tensor(w.dims, w.f);
  if (a.bias) {
    Const b = constant(in(2));
    if (shape_numel(b.dims) != a.out) fail("bias has " + shape_str(b.dims) + " values");
    n.values["bias"] = host_tensor({a.out}, b.f);
  }
  set_out({id, n.shape});
}

void Importer::batchnorm() {
  only_attrs({"epsilon", "momentum", "training_mode", "spatial"});
  if (attr_int("training_mode", 0) != 0) fail("training_mode=1 is not inference; export in eval");
  if (node_->output_size() > 1) fail("running statistics outputs are training only");
  const Value x = unpadded(value(in(0)), "BatchNormalization");
  if (x.shape.size() != 3) fail("needs a [N, C, H, W] input");
  BatchNormAttrs a;
  a.p.eps = attr_float("epsilon", 1e-5f);
  const int id = add(OpKind::batchnorm2d, a, {x.node});
  Node& n = g_.node(id);
  const char* names[] = {"weight", "bias", "running_mean", "running_var"};
  for (int k = 0; k < 4; ++k) {
    Const c = constant(in(k + 1));
    if (shape_numel(c.dims) != x.shape[0]) fail(std::string(names[k]) + " has the wrong size");
    n.values[names[k]] = host_tensor({x.shape[0]}, c.f);
  }
  set_out({id, x.shape});
}

void Importer::clip() {
  const Value x = unpadded(value(in(0)), "Clip");
  float lo = -std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::max();
  if (opset_ < 11) {
    only_attrs({"min", "max"});
    lo = attr_float("min", lo);
    hi = attr_float("max", hi);
  } else {
    only_attrs({});
    auto scalar = [&](int k, float dflt) {
      if (in(k).empty()) return dflt;
      Const c = constant(in(k));
      if (c.f.size() != 1) fail("min and max must be scalars");
      return c.f[0];
    };
    lo = scalar(1, lo);
    hi = scalar(2, hi);
  }
  if (!(lo <= hi)) fail("min must not exceed max");
  const bool relu = lo == 0.f && hi == std::numeric_limits<float>::max();
  const int id =
      relu ? add(OpKind::relu, {}, {x.node}) : add(OpKind::clip, ClipAttrs{lo, hi}, {x.node});
  set_out({id, x.shape});
}

void Importer::pool(bool max) {
  if (max) {
    only_attrs(
        {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
    if (node_->output_size() > 1 && readers_[node_->output(1)] > 0)
      fail("the indices output is not supported");
    if (attr_int("storage_order", 0) != 0) fail("storage_order=1 is not supported");
  } else {
    only_attrs({"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
  }
  const Value x = value(in(0));
  const bool include_pad = !max && attr_int("count_include_pad", 0) != 0;
  if (x.padded && !include_pad)
    unpadded(x, max ? "MaxPool" : "AveragePool without count_include_pad");
  const std::vector<int64_t> ks = attr_ints("kernel_shape", {});
  if (ks.size() != 2) fail("needs a 2-D kernel_shape");
  const Window w = window(x, ks[0], ks[1], false);
  PoolAttrs a;
  a.p = {w.kh, w.kw, w.sh, w.sw, w.ph, w.pw, attr_int("ceil_mode", 0) != 0, include_pad};
  if (w.ph * 2 > w.kh || w.pw * 2 > w.kw)
    fail("padding larger than half the window is not supported");
  const int id = add(max ? OpKind::maxpool2d : OpKind::avgpool2d, a, {x.node});
  set_out({id, g_.node(id).shape});
}

void Importer::gemm(bool matmul) {
  const Value x = unpadded(value(in(0)), matmul ? "MatMul" : "Gemm");
  if (x.shape.size() != 1)
    fail("needs a 2-D [N, F] input (Flatten first), got " + shape_str(x.shape));
  const int64_t f = x.shape[0];
  Const b = constant(in(1));
  bool trans_b = false;
  float alpha = 1.f, beta = 1.f;
  if (matmul) {
    only_attrs({});
  } else {
    only_attrs({"alpha", "beta", "transA", "transB"});
    if (attr_int("transA", 0) != 0) fail("transA=1 is not supported");
    trans_b = attr_int("transB", 0) != 0;
    alpha = attr_float("alpha", 1.f);
    beta = attr_float("beta", 1.f);
  }
  if (b.dims.size() != 2 || b.dims[trans_b ? 1 : 0] != f)
    fail("weights " + shape_str(b.dims) + " do not fit an input of " + std::to_string(f) +
         " features");
  const int64_t o = b.dims[trans_b ? 0 : 1];
  std::vector<float> w(static_cast<size_t>(o * f));
  for (int64_t r = 0; r < o; ++r)
    for (int64_t c = 0; c < f; ++c)
      w[static_cast<size_t>(r * f + c)] =
          alpha * b.f[static_cast<size_t>(trans_b ? r * f + c : c * o + r)];
  LinearAttrs a;
  a.out = static_cast<int>(o);
  a.bias = !matmul && input_count() > 2;
  const int id = add(OpKind::linear, a, {x.node});
  Node& n = g_.node(id);
  n.values["weight"] = host_tensor({o, f}, w);
  if (a.bias) {
    Const c = constant(in(2));
    const int64_t cn = shape_numel(c.dims);
    if (cn != o && cn != 1) fail("bias C " + shape_str(c.dims) + " does not broadcast to [N, O]");
    std::vector<float> bias(static_cast<size_t>(o));
    for (int64_t k = 0; k < o; ++k) bias[static_cast<size_t>(k)] = beta * c.f[cn == 1 ? 0 : k];
    n.values["bias"] = host_tensor({o}, bias);
  }
  set_out({id, n.shape});
}

void Importer::add_or_mul(bool mul) {
  only_attrs({});
  const char* op = mul ? "Mul" : "Add";
  const bool c0 = is_const(in(0)), c1 = is_const(in(1));
  if (!c0 && !c1) {
    if (mul) fail("multiplying two activations is not supported");
    const Value a = unpadded(value(in(0)), op), b = unpadded(value(in(1)), op);
    if (a.shape != b.shape)
      fail("inputs " + shape_str(a.shape) + " and " + shape_str(b.shape) +
           " differ; broadcasting adds are not supported");
    return set_out({add(OpKind::add, {}, {a.node, b.node}), a.shape});
  }
  if (c0 && c1) fail("both inputs are constants; fold them before export");
  const std::string& xn = c0 ? in(1) : in(0);
  const Value x = unpadded(value(xn), op);
  Const k = constant(c0 ? in(0) : in(1));
  Node& p = g_.node(x.node);
  const bool producer_ok = (p.kind == OpKind::conv2d || p.kind == OpKind::linear) &&
                           readers_[xn] == 1 && p.threshold == 0.f;
  const int64_t c = g_.node(x.node).shape.at(0);
  if (!producer_ok || (!is_channel_vector(k.dims, c) && shape_numel(k.dims) != 1))
    fail(std::string("a constant ") + (mul ? "multiplier" : "addend") + " " + shape_str(k.dims) +
         " is supported only per channel (or scalar) right after a Conv, Gemm or MatMul that "
         "nothing else reads");
  auto at = [&](int64_t ch) { return k.f[k.f.size() == 1 ? 0 : static_cast<size_t>(ch)]; };
  if (p.kind == OpKind::conv2d && !p.as<ConvAttrs>().bias) {
    p.as<ConvAttrs>().bias = true;
    p.values["bias"] = host_tensor({c}, std::vector<float>(static_cast<size_t>(c), 0.f));
  } else if (p.kind == OpKind::linear && !p.as<LinearAttrs>().bias) {
    p.as<LinearAttrs>().bias = true;
    p.values["bias"] = host_tensor({c}, std::vector<float>(static_cast<size_t>(c), 0.f));
  }
  g_.reinfer();
  float* bias = p.values.at("bias").data<float>();
  if (mul) {
    Tensor& w = p.values.at("weight");
    const int64_t per = w.numel() / c;
    for (int64_t o = 0; o < c; ++o) {
      for (int64_t j = 0; j < per; ++j) w.data<float>()[o * per + j] *= at(o);
      bias[o] *= at(o);
    }
  } else {
    for (int64_t o = 0; o < c; ++o) bias[o] += at(o);
  }
  set_out(x);
}

void Importer::flatten_or_reshape(bool reshape) {
  const Value x = unpadded(value(in(0)), reshape ? "Reshape" : "Flatten");
  const int64_t numel = shape_numel(x.shape);
  if (reshape) {
    only_attrs({"allowzero"});
    Const s = constant(in(1), true);
    // [N or 0 or -1, F or -1]: flatten; the same shape again: nothing
    bool ok = s.i.size() == 2 && (s.i[0] == 0 || s.i[0] == -1 || s.i[0] >= 1) &&
              (s.i[1] == -1 || s.i[1] == numel) && !(s.i[0] == -1 && s.i[1] == -1);
    if (s.i.size() == 2 && s.i[0] == -1 && s.i[1] != numel) ok = false;
    if (!ok)
      fail("only a reshape to [N, " + std::to_string(numel) + "] (flattening) is supported, got " +
           shape_str(s.i));
  } else {
    only_attrs({"axis"});
    const int64_t axis = attr_int("axis", 1);
    if (axis != 1 && axis != -static_cast<int64_t>(x.shape.size()))
      fail("only axis=1 (keep the batch) is supported");
  }
  if (g_.node(x.node).shape.size() == 1) return set_out({x.node, {numel}});
  return set_out({add(OpKind::flatten, {}, {x.node}), {numel}});
}

void Importer::concat() {
  only_attrs({"axis"});
  std::vector<int> xs;
  Shape first;
  for (int k = 0; k < input_count(); ++k) {
    const Value v = unpadded(value(in(k)), "Concat");
    if (k == 0) first = v.shape;
    if (v.shape.size() != 3) fail("only [N, C, H, W] inputs are supported");
    xs.push_back(v.node);
  }
  const int64_t axis = attr_int("axis", 1);
  if (axis != 1 && axis != -3) fail("only concatenation along channels (axis 1) is supported");
  std::vector<int> seen = xs;
  std::sort(seen.begin(), seen.end());
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end())
    fail("one tensor concatenated twice is not supported");
  const int id = add(OpKind::concat, {}, xs);
  set_out({id, g_.node(id).shape});
}

void Importer::softmax() {
  only_attrs({"axis"});
  const Value x = unpadded(value(in(0)), "Softmax");
  const int64_t axis = attr_int("axis", opset_ >= 13 ? -1 : 1);
  if (x.shape.size() != 1 || (axis != 1 && axis != -1))
    fail("only a softmax over the features of [N, F] is supported");
  set_out({add(OpKind::softmax, {}, {x.node}), x.shape});
}

void Importer::lrn() {
  only_attrs({"alpha", "beta", "bias", "size"});
  const Value x = unpadded(value(in(0)), "LRN");
  LrnAttrs a;
  const int64_t size = attr_int("size", 0);
  if (size < 1 || size > 1024) fail("size must be in 1..1024");
  a.size = static_cast<int>(size);
  a.alpha = attr_float("alpha", 1e-4f);
  a.beta = attr_float("beta", 0.75f);
  a.bias = attr_float("bias", 1.f);
  set_out({add(OpKind::lrn, a, {x.node}), x.shape});
}

void Importer::pad() {
  only_attrs({"mode", "pads", "value"});
  Value x = unpadded(value(in(0)), "Pad");
  if (attr_string("mode", "constant") != "constant") fail("only constant (zero) padding");
  std::vector<int64_t> p;
  float fill = 0.f;
  if (opset_ < 11) {
    p = attr_ints("pads", {});
    fill = attr_float("value", 0.f);
  } else {
    p = constant(in(1), true).i;
    if (!in(2).empty()) {
      Const v = constant(in(2));
      if (v.f.size() != 1) fail("constant_value must be a scalar");
      fill = v.f[0];
    }
    if (!in(3).empty()) fail("the axes input is not supported");
  }
  if (fill != 0.f) fail("only zero padding is supported");
  if (x.shape.size() != 3 || p.size() != 8) fail("only [N, C, H, W] padding is supported");
  for (int64_t v : p)
    if (v < 0 || v > 1024) fail("pads must be in 0..1024");
  if (p[0] || p[4]) fail("padding the batch is not supported");
  if (p[1] || p[5]) {  // channels: only extra channels at the end (a shortcut's zero channels)
    if (p[1] || p[2] || p[3] || p[6] || p[7]) fail("only channel padding at the end, alone");
    const int id = add(OpKind::channel_pad, ChannelPadAttrs{static_cast<int>(p[5])}, {x.node});
    return set_out({id, g_.node(id).shape});
  }
  x.pad = {p[2], p[3], p[6], p[7]};
  x.padded = true;
  x.shape = {x.shape[0], x.shape[1] + p[2] + p[6], x.shape[2] + p[3] + p[7]};
  set_out(x);
}

void Importer::constant_node() {
  if (node_->attribute_size() != 1) fail("needs exactly one value attribute");
  const onnx::AttributeProto& a = node_->attribute(0);
  Const c;
  if (a.name() == "value") {
    init_[node_->output(0)] = &a.t();
    return;
  }
  if (a.name() == "value_float") {
    c.f = {a.f()};
  } else if (a.name() == "value_floats") {
    c.f.assign(a.floats().begin(), a.floats().end());
    c.dims = {static_cast<int64_t>(c.f.size())};
  } else if (a.name() == "value_int") {
    c.i = {a.i()};
    c.f = {static_cast<float>(a.i())};
  } else if (a.name() == "value_ints") {
    c.i.assign(a.ints().begin(), a.ints().end());
    for (int64_t v : c.i) c.f.push_back(static_cast<float>(v));
    c.dims = {static_cast<int64_t>(c.i.size())};
  } else {
    fail("value attribute '" + a.name() + "' is not supported");
  }
  computed_[node_->output(0)] = std::move(c);
}

void Importer::quantize() {
  only_attrs({"axis"});
  Quantized q;
  Const s = constant(in(1));
  if (s.f.size() != 1) fail("per-axis activation quantization is not supported");
  q.scale = s.f[0];
  if (!(q.scale > 0.f) || !std::isfinite(q.scale)) fail("the scale must be positive");
  if (!in(2).empty()) {
    Const z = constant(in(2), true);
    if (z.i.size() != 1) fail("the zero point must be a scalar");
    q.zero_point = static_cast<int32_t>(z.i[0]);
    q.is_unsigned = z.type == onnx::TensorProto::UINT8;
    if (z.type != onnx::TensorProto::UINT8 && z.type != onnx::TensorProto::INT8)
      fail("only uint8 and int8 quantization is supported");
  }
  if (is_const(in(0))) {  // a float weight quantized in the graph: keep what it rounds to
    Const w = constant(in(0));
    const float lo = q.is_unsigned ? 0.f : -128.f, hi = q.is_unsigned ? 255.f : 127.f;
    for (float& v : w.f)
      v = (std::clamp(std::nearbyint(v / q.scale) + float(q.zero_point), lo, hi) -
           float(q.zero_point)) *
          q.scale;
    w.i.clear();
    w.type = q.is_unsigned ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;
    computed_[node_->output(0) + "#dequantized"] = std::move(w);
    quantized_[node_->output(0)] = q;  // value.node stays -1: a constant
    return;
  }
  q.value = unpadded(value(in(0)), "QuantizeLinear");
  quantized_[node_->output(0)] = q;
}

void Importer::dequantize() {
  only_attrs({"axis"});
  const std::string& x = in(0);
  if (auto it = quantized_.find(x); it != quantized_.end()) {
    const Quantized& q = it->second;
    if (q.value.node < 0) {  // the weight path: the rounded float constant
      computed_[node_->output(0)] = computed_.at(x + "#dequantized");
      return;
    }
    const float qmin = q.is_unsigned ? 0.f : -128.f, qmax = q.is_unsigned ? 255.f : 127.f;
    const float lo = (qmin - float(q.zero_point)) * q.scale;
    const float hi = (qmax - float(q.zero_point)) * q.scale;
    float t = std::max(hi, -lo);
    if (!q.is_unsigned && q.zero_point == 0) t = hi;  // symmetric s8: +-127 steps
    Value v = q.value;
    // The quantization clamps at 0: a ReLU (ONNX Runtime drops the node before such a pair).
    if (lo >= 0.f && !never_negative(g_, v.node)) v.node = add(OpKind::relu, {}, {v.node}, "/relu");
    g_.node(v.node).threshold = t;
    ++qdq_pairs_;
    return set_out(v);
  }
  // An integer initializer (QDQ weights and biases): dequantized per tensor or per axis.
  Const q = constant(x);
  if (q.type != onnx::TensorProto::INT8 && q.type != onnx::TensorProto::UINT8 &&
      q.type != onnx::TensorProto::INT32)
    fail("input '" + x + "' is neither a QuantizeLinear output nor an integer initializer");
  Const s = constant(in(1));
  std::vector<float> zp(s.f.size(), 0.f);
  if (!in(2).empty()) {
    Const z = constant(in(2));
    if (z.f.size() != s.f.size()) fail("scale and zero point sizes differ");
    zp = z.f;
  }
  int64_t axis = attr_int("axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(q.dims.size());
  const int64_t per_axis = static_cast<int64_t>(s.f.size());
  if (per_axis != 1 && (axis < 0 || axis >= static_cast<int64_t>(q.dims.size()) ||
                        q.dims[static_cast<size_t>(axis)] != per_axis))
    fail("per-axis scales " + std::to_string(per_axis) + " do not match axis " +
         std::to_string(axis) + " of " + shape_str(q.dims));
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < q.dims.size(); ++d) inner *= q.dims[d];
  for (size_t k = 0; k < q.f.size(); ++k) {
    const size_t a = per_axis == 1 ? 0 : (k / static_cast<size_t>(inner)) % s.f.size();
    q.f[k] = (q.f[k] - zp[a]) * s.f[a];
  }
  q.type = onnx::TensorProto::FLOAT;
  computed_[node_->output(0)] = std::move(q);
}

}  // namespace scaledl::onnxio::detail
