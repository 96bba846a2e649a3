// Graph building: shape inference, parameter specs and FLOPs per node kind; pruning.
#include "graph/graph.h"

#include <string>

#include "core/error.h"

namespace scaledl {

namespace {

void need_chw(std::string_view kind, const std::vector<Shape>& in) {
  if (in.size() != 1 || in[0].size() != 3)
    throw Error(kind, "needs one [C,H,W] input, got " + shape_str(in.at(0)));
}

Shape infer_conv(const ConvAttrs& a, const std::vector<Shape>& in) {
  const size_t want = a.fused.sum ? 2 : 1;
  if (in.size() != want || in[0].size() != 3)
    throw Error("conv2d", "needs one [C,H,W] input, got " + shape_str(in.at(0)));
  const int64_t c = in[0][0];
  if (c % a.p.groups || a.out % a.p.groups)
    throw Error("conv2d", "channels " + std::to_string(c) + "->" + std::to_string(a.out) +
                              " not divisible by groups " + std::to_string(a.p.groups));
  int64_t oh = conv_out_size(in[0][1], a.kernel, a.p.stride_h, a.p.pad_h, a.p.dil_h);
  int64_t ow = conv_out_size(in[0][2], a.kernel, a.p.stride_w, a.p.pad_w, a.p.dil_w);
  if (oh <= 0 || ow <= 0)
    throw Error("conv2d", "input " + shape_str(in[0]) + " is too small for a " +
                              std::to_string(a.kernel) + "x" + std::to_string(a.kernel) +
                              " kernel; use a larger --input-size");
  Shape out{a.out, oh, ow};
  if (a.fused.sum && in[1] != out)
    throw Error("conv2d", "fused residual " + shape_str(in[1]) + " does not match the output " +
                              shape_str(out));
  return out;
}

Shape infer_pool(std::string_view kind, const Pool2dParams& p, const std::vector<Shape>& in) {
  need_chw(kind, in);
  int64_t oh = pool_out_size(in[0][1], p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  int64_t ow = pool_out_size(in[0][2], p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  if (oh <= 0 || ow <= 0)
    throw Error(kind, "input " + shape_str(in[0]) + " is too small for this pooling window");
  return {in[0][0], oh, ow};
}

Shape infer_concat(const std::vector<Shape>& in) {
  if (in.empty()) throw Error("concat", "needs at least one input");
  Shape out = in[0];
  if (out.size() != 3) throw Error("concat", "needs [C,H,W] inputs, got " + shape_str(out));
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i].size() != 3 || in[i][1] != out[1] || in[i][2] != out[2])
      throw Error("concat", "input " + std::to_string(i) + " " + shape_str(in[i]) +
                                " does not match " + shape_str(in[0]) + " in H, W");
    out[0] += in[i][0];
  }
  return out;
}

// Output shape of node n from its inputs' shapes; fills n.params and n.buffers.
Shape infer(Node& n, const std::vector<Shape>& in) {
  n.params.clear();
  n.buffers.clear();
  const std::string_view kind = op_kind_name(n.kind);
  switch (n.kind) {
    case OpKind::input:
      throw Error("graph", "only node 0 is an input");
    case OpKind::conv2d: {
      const ConvAttrs& a = n.as<ConvAttrs>();
      Shape out = infer_conv(a, in);
      const int64_t rf = int64_t{a.kernel} * a.kernel;
      const int64_t cg = in[0][0] / a.p.groups;
      const int64_t fan_in = cg * rf;  // PyTorch's fans of a [O, C/g, k, k] weight
      n.params.push_back({"weight", {a.out, cg, a.kernel, a.kernel}, a.init, fan_in, a.out * rf});
      if (a.bias) n.params.push_back({"bias", {a.out}, a.bias_init, fan_in, a.out, true});
      return out;
    }
    case OpKind::linear: {
      const LinearAttrs& a = n.as<LinearAttrs>();
      const size_t want = a.fused.sum ? 2 : 1;
      if (in.size() != want || in[0].size() != 1)
        throw Error("linear", "needs one [F] input (flatten first), got " + shape_str(in.at(0)));
      const int64_t f = in[0][0];
      n.params.push_back({"weight", {a.out, f}, a.init, f, a.out});
      if (a.bias) n.params.push_back({"bias", {a.out}, a.bias_init, f, a.out, true});
      return {a.out};
    }
    case OpKind::batchnorm2d: {
      if (in.size() != 1 || in[0].size() != 3)
        throw Error("batchnorm2d", "needs one [C,H,W] input, got " + shape_str(in.at(0)));
      const int64_t c = in[0][0];
      // f32 under mixed precision too: cuDNN's batch norm takes f32 scale, shift and statistics.
      const bool zg = n.as<BatchNormAttrs>().zero_gamma;
      n.params = {{"weight", {c}, Init::ones, 1, 1, true, zg, true},
                  {"bias", {c}, Init::zeros, 1, 1, true, false, true}};
      n.buffers = {{"running_mean", {c}, 0.f}, {"running_var", {c}, 1.f}};
      return in[0];
    }
    case OpKind::relu:
    case OpKind::dropout:
    case OpKind::identity:
    case OpKind::clip:
      if (in.size() != 1) throw Error(kind, "needs one input");
      return in[0];
    case OpKind::lrn:
      need_chw(kind, in);
      return in[0];
    case OpKind::softmax:
      if (in.size() != 1 || in[0].size() != 1)
        throw Error("softmax", "needs one [F] input, got " + shape_str(in.at(0)));
      return in[0];
    case OpKind::maxpool2d:
    case OpKind::avgpool2d:
      return infer_pool(kind, n.as<PoolAttrs>().p, in);
    case OpKind::global_avgpool:
      need_chw(kind, in);
      return {in[0][0]};
    case OpKind::flatten:
      need_chw(kind, in);
      return {shape_numel(in[0])};
    case OpKind::add:
      if (in.size() != 2 || in[0] != in[1])
        throw Error("add", "needs two inputs of one shape, got " + shape_str(in.at(0)) + " and " +
                               shape_str(in.at(in.size() > 1 ? 1 : 0)));
      return in[0];
    case OpKind::concat:
      return infer_concat(in);
    case OpKind::channel_pad:
      need_chw(kind, in);
      return {in[0][0] + n.as<ChannelPadAttrs>().extra, in[0][1], in[0][2]};
  }
  throw Error("graph", "unknown node kind");
}

void check_attrs(const Node& n) {
  if (n.kind == OpKind::dropout) {
    const float p = n.as<DropoutAttrs>().p;
    if (p < 0.f || p >= 1.f)
      throw Error("dropout", "probability " + std::to_string(p) + " must be in [0, 1)");
  }
  if (n.kind == OpKind::clip && !(n.as<ClipAttrs>().lo <= n.as<ClipAttrs>().hi))
    throw Error("clip", "needs lo <= hi, got " + std::to_string(n.as<ClipAttrs>().lo) + " and " +
                            std::to_string(n.as<ClipAttrs>().hi));
  if (n.kind == OpKind::lrn) {
    const LrnAttrs& a = n.as<LrnAttrs>();
    if (a.size < 1 || !(a.bias > 0.f) || !(a.beta >= 0.f) || !(a.alpha >= 0.f))
      throw Error("lrn", "needs size >= 1, bias > 0, alpha >= 0 and beta >= 0");
  }
  if (n.kind == OpKind::channel_pad && n.as<ChannelPadAttrs>().extra <= 0)
    throw Error("channel_pad", "needs a positive channel count, got " +
                                   std::to_string(n.as<ChannelPadAttrs>().extra));
}

}  // namespace

std::string_view op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::input:
      return "input";
    case OpKind::conv2d:
      return "conv2d";
    case OpKind::linear:
      return "linear";
    case OpKind::batchnorm2d:
      return "batchnorm2d";
    case OpKind::relu:
      return "relu";
    case OpKind::maxpool2d:
      return "maxpool2d";
    case OpKind::avgpool2d:
      return "avgpool2d";
    case OpKind::global_avgpool:
      return "global_avgpool";
    case OpKind::flatten:
      return "flatten";
    case OpKind::add:
      return "add";
    case OpKind::dropout:
      return "dropout";
    case OpKind::concat:
      return "concat";
    case OpKind::channel_pad:
      return "channel_pad";
    case OpKind::identity:
      return "identity";
    case OpKind::clip:
      return "clip";
    case OpKind::softmax:
      return "softmax";
    case OpKind::lrn:
      return "lrn";
  }
  return "?";
}

bool never_negative(const Graph& g, int i) {
  const Node& n = g.node(i);
  auto all_inputs = [&] {
    for (int j : n.inputs)
      if (!never_negative(g, j)) return false;
    return !n.inputs.empty();
  };
  switch (n.kind) {
    case OpKind::conv2d:
      return n.as<ConvAttrs>().fused.relu;
    case OpKind::linear:
      return n.as<LinearAttrs>().fused.relu;
    case OpKind::relu:
    case OpKind::softmax:
      return true;
    case OpKind::clip:
      return n.as<ClipAttrs>().lo >= 0.f;
    case OpKind::maxpool2d:
    case OpKind::avgpool2d:
    case OpKind::global_avgpool:
    case OpKind::flatten:
    case OpKind::channel_pad:
    case OpKind::lrn:
    case OpKind::concat:
      return all_inputs();
    default:
      return false;
  }
}

const Tensor& Node::value(const std::string& suffix) const {
  auto it = values.find(suffix);
  if (it == values.end()) throw Error("graph", "node " + name + " has no value '" + suffix + "'");
  return it->second;
}

int64_t node_flops(const Node& n, const std::vector<Shape>& in) {
  switch (n.kind) {
    case OpKind::conv2d: {
      const ConvAttrs& a = n.as<ConvAttrs>();
      return 2 * shape_numel(n.shape) * (in[0][0] / a.p.groups) * a.kernel * a.kernel;
    }
    case OpKind::linear:
      return 2 * in[0][0] * n.as<LinearAttrs>().out;
    case OpKind::batchnorm2d:
      return 2 * shape_numel(in[0]);
    case OpKind::maxpool2d:
    case OpKind::avgpool2d: {
      const Pool2dParams& p = n.as<PoolAttrs>().p;
      return shape_numel(n.shape) * p.kernel_h * p.kernel_w;
    }
    case OpKind::global_avgpool:
    case OpKind::add:
      return shape_numel(in[0]);
    default:
      return 0;
  }
}

Graph::Graph(std::string name, Shape input_shape) : name_(std::move(name)) {
  Node in;
  in.name = "input";
  in.shape = std::move(input_shape);
  nodes_.push_back(std::move(in));
}

int Graph::add(OpKind kind, Attrs attrs, std::vector<int> inputs, std::string name) {
  Node n;
  n.kind = kind;
  n.attrs = std::move(attrs);
  check_attrs(n);
  std::vector<Shape> in_shapes;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const int i = inputs[k];
    SDL_ASSERT(i >= 0 && i < size(), "input node does not exist");
    for (size_t m = 0; m < k; ++m)
      SDL_ASSERT(inputs[m] != i, "a node may not take one input twice");
    in_shapes.push_back(nodes_[i].shape);
  }
  n.name = name.empty() ? std::string(op_kind_name(kind)) + "_" + std::to_string(nodes_.size())
                        : std::move(name);
  n.shape = infer(n, in_shapes);
  n.inputs = std::move(inputs);
  nodes_.push_back(std::move(n));
  output_ = size() - 1;
  return output_;
}

int Graph::conv(int x, int out, int kernel, int stride, int pad, const std::string& name,
                int groups, bool bias, Init init, Init bias_init) {
  ConvAttrs a;
  a.out = out;
  a.kernel = kernel;
  a.p.stride_h = a.p.stride_w = stride;
  a.p.pad_h = a.p.pad_w = pad < 0 ? kernel / 2 : pad;
  a.p.groups = groups;
  a.bias = bias;
  a.init = init;
  a.bias_init = bias_init;
  return add(OpKind::conv2d, a, {x}, name);
}

int Graph::bn(int x, const std::string& name, bool zero_gamma, float eps) {
  BatchNormAttrs a;
  a.zero_gamma = zero_gamma;
  a.p.eps = eps;
  return add(OpKind::batchnorm2d, a, {x}, name);
}

int Graph::relu(int x) {
  return add(OpKind::relu, {}, {x});
}

int Graph::maxpool(int x, int kernel, int stride, int pad, bool ceil_mode) {
  return add(OpKind::maxpool2d,
             PoolAttrs{{kernel, kernel, stride, stride, pad, pad, ceil_mode, true}}, {x});
}

int Graph::avgpool(int x, int kernel, int stride, int pad, bool ceil_mode, bool count_include_pad) {
  return add(OpKind::avgpool2d,
             PoolAttrs{{kernel, kernel, stride, stride, pad, pad, ceil_mode, count_include_pad}},
             {x});
}

int Graph::global_avgpool(int x) {
  return add(OpKind::global_avgpool, {}, {x});
}
int Graph::flatten(int x) {
  return add(OpKind::flatten, {}, {x});
}

int Graph::linear(int x, int out, const std::string& name, bool bias, Init init, Init bias_init) {
  LinearAttrs a;
  a.out = out;
  a.bias = bias;
  a.init = init;
  a.bias_init = bias_init;
  return add(OpKind::linear, a, {x}, name);
}

int Graph::add(int a, int b) {
  return add(OpKind::add, {}, {a, b});
}
int Graph::dropout(int x, float p) {
  return add(OpKind::dropout, DropoutAttrs{p}, {x});
}
int Graph::concat(const std::vector<int>& xs) {
  return add(OpKind::concat, {}, xs);
}
int Graph::channel_pad(int x, int extra) {
  return add(OpKind::channel_pad, ChannelPadAttrs{extra}, {x});
}

int Graph::clip(int x, float lo, float hi) {
  return add(OpKind::clip, ClipAttrs{lo, hi}, {x});
}

int64_t Graph::num_params() const {
  int64_t n = 0;
  for (const Node& node : nodes_)
    for (const ParamSpec& s : node.params) n += shape_numel(s.shape);
  return n;
}

int64_t Graph::flops() const {
  int64_t f = 0;
  for (const Node& n : nodes_) {
    if (n.kind == OpKind::input) continue;
    std::vector<Shape> in;
    for (int j : n.inputs) in.push_back(nodes_[j].shape);
    f += node_flops(n, in);
  }
  return f;
}

std::vector<int> Graph::consumers() const {
  std::vector<int> c(nodes_.size(), 0);
  for (const Node& n : nodes_)
    for (int j : n.inputs) ++c[j];
  ++c[output_];
  return c;
}

std::vector<std::vector<int>> Graph::readers() const {
  std::vector<std::vector<int>> r(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i)
    for (int j : nodes_[i].inputs) r[j].push_back(static_cast<int>(i));
  return r;
}

std::vector<std::string> Graph::value_names() const {
  std::vector<std::string> names;
  for (const Node& n : nodes_)
    for (const ParamSpec& s : n.params) names.push_back(n.name + "." + s.name);
  for (const Node& n : nodes_)
    for (const BufferSpec& s : n.buffers) names.push_back(n.name + "." + s.name);
  return names;
}

bool Graph::has_values() const {
  for (const Node& n : nodes_)
    if (!n.values.empty()) return true;
  return false;
}

void Graph::prune() {
  std::vector<bool> live(nodes_.size(), false);
  live[0] = true;
  live[output_] = true;
  for (int i = output_; i >= 0; --i)
    if (live[i])
      for (int j : nodes_[i].inputs) live[j] = true;
  std::vector<int> id(nodes_.size(), -1);
  std::vector<Node> kept;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!live[i]) continue;
    id[i] = static_cast<int>(kept.size());
    kept.push_back(std::move(nodes_[i]));
    for (int& j : kept.back().inputs) j = id[j];
  }
  output_ = id[output_];
  nodes_ = std::move(kept);
}

void Graph::reinfer() {
  for (size_t i = 1; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    std::vector<Shape> in;
    for (int j : n.inputs) in.push_back(nodes_[j].shape);
    try {
      n.shape = infer(n, in);
    } catch (const Error& e) {
      throw Error("graph", "node " + n.name + ": " + e.what());
    }
  }
}

}  // namespace scaledl
