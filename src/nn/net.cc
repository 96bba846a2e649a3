// Net: graph building, flat parameter storage, forward and backward.
#include "nn/net.h"

#include <chrono>
#include <cmath>
#include <string>

#include "core/device_memory.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/trace.h"
#include "nn/layers.h"
#include "ops/ops.h"

namespace scaledl {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void init_tensor(Tensor& t, const ParamSpec& s, Rng& rng) {
  float* p = t.data<float>();
  int64_t n = t.numel();
  switch (s.init) {
    case Init::zeros:
      t.fill(0.f);
      break;
    case Init::ones:
      t.fill(1.f);
      break;
    case Init::kaiming_normal_fan_out: {
      float sd = std::sqrt(2.f / static_cast<float>(s.fan_out));
      for (int64_t i = 0; i < n; ++i) p[i] = rng.normal(0.f, sd);
      break;
    }
    case Init::kaiming_uniform_fan_in: {
      float bound = 1.f / std::sqrt(static_cast<float>(s.fan_in));
      for (int64_t i = 0; i < n; ++i) p[i] = rng.uniform(-bound, bound);
      break;
    }
    case Init::normal_001:
      for (int64_t i = 0; i < n; ++i) p[i] = rng.normal(0.f, 0.01f);
      break;
  }
}
// A value the graph carries for `suffix` of node n, copied over `dst` (the Net's own memory).
void copy_value(const Node& n, const std::string& suffix, Tensor& dst) {
  auto it = n.values.find(suffix);
  if (it == n.values.end()) return;
  if (it->second.shape() != dst.shape() || it->second.dtype() != DType::f32)
    throw Error("net", n.name + "." + suffix + " is " + it->second.str() + ", the graph wants f32" +
                           shape_str(dst.shape()));
  dst.copy_from(it->second);
}
}  // namespace

// Seconds since t0; on a GPU (profiling only) after waiting for the node's queued work, so a
// node's time is its kernels' and not its launches'.
double Net::since_synced(std::chrono::steady_clock::time_point t0) const {
  if (!device_.is_cpu()) device_synchronize(device_);
  return since(t0);
}

Net::Net(Graph graph) : graph_(std::move(graph)) {
  nodes_.resize(static_cast<size_t>(graph_.size()));
  for (int i = 1; i < graph_.size(); ++i) {
    const Node& g = graph_.node(i);
    nodes_[i].layer = make_layer(g);
    for (int j : g.inputs) ++nodes_[j].consumers;
  }
  output_ = graph_.output();
}

void Net::init(uint64_t seed, bool zero_init_residual) {
  if (!flat_params_.defined()) {
    int64_t np = 0, nb = 0;
    for (const Node& n : graph_.nodes()) {
      for (const ParamSpec& s : n.params) np += shape_numel(s.shape);
      for (const BufferSpec& s : n.buffers) nb += shape_numel(s.shape);
    }
    flat_params_ = Tensor::zeros({np});
    flat_grads_ = Tensor::zeros({np});
    flat_buffers_ = Tensor::zeros({nb});
    bind_layers();
  }
  // Values are drawn on the host (the same numbers on every device), then copied.
  Tensor hp = flat_params_.to(Device::cpu()), hb = flat_buffers_.to(Device::cpu());
  int64_t po = 0, bo = 0;
  uint64_t pi = 0;
  for (const Node& n : graph_.nodes()) {
    for (ParamSpec s : n.params) {
      if (zero_init_residual && s.zero_for_residual_init) s.init = Init::zeros;
      Rng rng(hash_words(seed, pi++));
      Tensor v = hp.view(s.shape, po);
      init_tensor(v, s, rng);
      copy_value(n, s.name, v);
      po += shape_numel(s.shape);
    }
    for (const BufferSpec& s : n.buffers) {
      Tensor v = hb.view(s.shape, bo);
      v.fill(s.init);
      copy_value(n, s.name, v);
      bo += shape_numel(s.shape);
    }
  }
  if (hp.raw() != flat_params_.raw()) flat_params_.copy_from(hp), flat_buffers_.copy_from(hb);
}

void Net::bind_layers() {
  params_.clear();
  buffers_.clear();
  param_begin_.assign(nodes_.size(), 0);
  grad_casts_.assign(nodes_.size(), {});
  int64_t po = 0, bo = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = graph_.nodes()[i];
    param_begin_[i] = po;
    if (!nodes_[i].layer) continue;
    std::vector<Tensor> ps, gs, bs;
    for (const ParamSpec& s : n.params) {
      Tensor v = flat_params_.view(s.shape, po), g = flat_grads_.view(s.shape, po);
      params_.push_back({n.name + "." + s.name, v, g, s.is_norm_or_bias});
      if (half_params_.defined() && !s.always_f32) {
        ps.push_back(half_params_.view(s.shape, po));
        gs.push_back(half_grads_.view(s.shape, po));
        grad_casts_[i].emplace_back(gs.back(), g);
      } else {
        ps.push_back(v);
        gs.push_back(g);
      }
      po += shape_numel(s.shape);
    }
    for (const BufferSpec& s : n.buffers) {
      bs.push_back(flat_buffers_.view(s.shape, bo));
      bo += shape_numel(s.shape);
      buffers_.push_back({n.name + "." + s.name, bs.back()});
    }
    nodes_[i].layer->bind(std::move(ps), std::move(gs), std::move(bs));
  }
}

void Net::place(Device device, DType compute) {
  SDL_ASSERT(flat_params_.defined(), "Net::init() must come before place()");
  if (compute != DType::f32 && compute != DType::f16 && compute != DType::bf16)
    throw Error("net",
                "compute dtype must be f32, f16 or bf16, got " + std::string(dtype_name(compute)));
  flat_params_ = flat_params_.to(device);
  flat_grads_ = flat_grads_.to(device);
  flat_buffers_ = flat_buffers_.to(device);
  device_ = device;
  compute_ = compute;
  half_params_ = half_grads_ = Tensor();
  if (compute != DType::f32) {
    half_params_ = Tensor::empty(flat_params_.shape(), compute, device);
    half_grads_ = Tensor::zeros(flat_params_.shape(), compute, device);
  }
  bind_layers();
  batch_ = 0;  // activations are reallocated by the next setup()
  staged_input_ = out_f32_ = Tensor();
}

void Net::setup(int64_t batch, Layout layout) {
  SDL_ASSERT(flat_params_.defined(), "Net::init() must come before setup()");
  if (batch == batch_ && layout == layout_) return;
  batch_ = batch;
  layout_ = layout;
  memory_ = Memory();
  std::vector<Shape> shapes(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    NodeState& n = nodes_[i];
    const Shape& per_sample = graph_.node(static_cast<int>(i)).shape;
    Shape& s = shapes[i];
    s = {batch};
    s.insert(s.end(), per_sample.begin(), per_sample.end());
    if (i == 0) {
      n.act = Tensor();
    } else if (const int j = relu_in_place_of(static_cast<int>(i)); j > 0) {
      n.act = nodes_[j].act;  // the ReLU overwrites its input's output
    } else {
      n.act = Tensor::empty(s, compute_, device_, layout);
      memory_.activation_bytes += static_cast<int64_t>(n.act.nbytes());
    }
  }
  fuse_bn_relu();
  share_gradients();
  place_gradients(shapes);
  grad_written_.assign(nodes_.size(), false);
}

// With memory planning, a ReLU whose input is an output nothing else reads, of a node whose
// backward does not read it (a convolution's, a batch norm's, a residual sum's), runs in place:
// the input's node, or 0.
int Net::relu_in_place_of(int i) const {
  const Node& g = graph_.node(i);
  if (!plan_memory_ || g.kind != OpKind::relu || g.inputs.size() != 1) return 0;
  const int j = g.inputs[0];
  if (j == 0 || j == output_ || nodes_[j].consumers != 1 ||
      nodes_[j].layer->reads_output_in_backward())
    return 0;
  return j;
}

// Pairs a batch norm with the ReLU that overwrites its output in place, where the backend has
// the fused kernel: the batch norm applies the ReLU, the ReLU passes through.
void Net::fuse_bn_relu() {
  const bool can = fuse_bn_relu_ &&
                   supports("batchnorm_relu_forward_train", backend_for(device_)) &&
                   supports("batchnorm_relu_backward", backend_for(device_));
  for (size_t i = 1; i < nodes_.size(); ++i) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(nodes_[i].layer.get())) bn->fuse_relu(false);
    if (auto* relu = dynamic_cast<ReLU*>(nodes_[i].layer.get())) relu->set_pass_through(false);
  }
  for (size_t i = 1; can && i < nodes_.size(); ++i) {
    const int j = relu_in_place_of(static_cast<int>(i));
    auto* bn = j > 0 ? dynamic_cast<BatchNorm2d*>(nodes_[j].layer.get()) : nullptr;
    if (!bn) continue;
    bn->fuse_relu(true);
    dynamic_cast<ReLU&>(*nodes_[i].layer).set_pass_through(true);
    ++memory_.fused_bn_relu;
  }
}

void Net::set_fuse_bn_relu(bool on) {
  if (on == fuse_bn_relu_) return;
  fuse_bn_relu_ = on;
  batch_ = 0;
}

void Net::set_memory_planning(bool on) {
  if (on == plan_memory_) return;
  plan_memory_ = on;
  batch_ = 0;  // the next setup() places the gradients again
}

void Net::stage_input(const Tensor& x) {
  if (device_.is_cpu() || !x.device().is_cpu()) return;
  Tensor& buf = ahead_[ahead_next_];
  if (!buf.defined() || buf.shape() != x.shape() || buf.layout() != x.layout() ||
      buf.dtype() != x.dtype() || !(buf.device() == device_)) {
    buf = Tensor::empty(x.shape(), x.dtype(), device_, x.layout());
    // A fresh block may be one that queued work still uses (the allocator reuses freed
    // blocks on the compute stream's order, which the copy stream does not follow).
    device_synchronize(device_);
  }
  device_copy_ahead(buf.raw(), device_, x.raw(), x.nbytes());
  ahead_src_ = x.raw();
  ahead_next_ ^= 1;
}

// x on the net's device, in its layout and compute dtype (copied, reordered, cast as needed).
const Tensor& Net::input_on_device(const Tensor& x) {
  Tensor src = x;
  if (ahead_src_ && ahead_src_ == x.raw()) {
    src = ahead_[ahead_next_ ^ 1];  // stage_input's newest copy
    ahead_src_ = nullptr;
  } else if (!(x.device() == device_)) {
    if (!staged_input_.defined() || staged_input_.shape() != x.shape() ||
        staged_input_.layout() != x.layout() || staged_input_.dtype() != x.dtype())
      staged_input_ = Tensor::empty(x.shape(), x.dtype(), device_, x.layout());
    staged_input_.copy_from(x);
    src = staged_input_;
  }
  NodeState& in = nodes_[0];
  const bool relayout = src.ndim() == 4 && src.layout() != layout_;
  if (!relayout && src.dtype() == compute_) {
    in.act = src;
    return in.act;
  }
  const Layout l = src.ndim() == 4 ? layout_ : Layout::nchw;
  if (!in.scratch.defined() || in.scratch.shape() != src.shape() || in.scratch.layout() != l ||
      in.scratch.dtype() != compute_ || !(in.scratch.device() == device_))
    in.scratch = Tensor::empty(src.shape(), compute_, device_, l);
  if (relayout && src.dtype() != compute_) {
    Tensor tmp = Tensor::empty(src.shape(), src.dtype(), device_, l);
    ops::reorder(src, tmp);
    ops::cast(tmp, in.scratch, 1.f);
  } else if (relayout) {
    ops::reorder(src, in.scratch);
  } else {
    ops::cast(src, in.scratch, 1.f);
  }
  in.act = in.scratch;
  return in.act;
}

const Tensor& Net::forward(const Tensor& x, const RunContext& ctx) {
  Shape want{batch_};
  want.insert(want.end(), input_shape().begin(), input_shape().end());
  if (x.shape() != want)
    throw Error("net", name() + " expects input " + shape_str(want) + ", got " + x.str());
  input_on_device(x);
  if (half_params_.defined()) ops::cast(flat_params_, half_params_, 1.f);
  if (profiling_ && !device_.is_cpu()) device_synchronize(device_);
  RunContext c = ctx;
  std::vector<Tensor> in;
  for (size_t i = 1; i < nodes_.size(); ++i) {
    NodeState& n = nodes_[i];
    const Node& g = graph_.node(static_cast<int>(i));
    in.clear();
    for (int j : g.inputs) in.push_back(nodes_[j].act);
    c.node = static_cast<int>(i);
    TraceSpan span(g.name, "forward");
    span.arg("kind", static_cast<int64_t>(g.kind));  // scaledl profile groups by op kind
    auto t0 = Clock::now();
    n.layer->forward(c, in, n.act);
    if (profiling_) n.fwd_s += since_synced(t0);
  }
  const Tensor& out = nodes_[output_].act;
  if (compute_ == DType::f32) return out;
  if (!out_f32_.defined() || out_f32_.shape() != out.shape())
    out_f32_ = Tensor::empty(out.shape(), DType::f32, device_, out.layout());
  ops::cast(out, out_f32_, 1.f);
  return out_f32_;
}

void Net::backward(const Tensor& dout, const RunContext& ctx, float loss_scale) {
  SDL_ASSERT(dout.shape() == nodes_[output_].act.shape(), "backward: gradient shape mismatch");
  std::fill(grad_written_.begin(), grad_written_.end(), false);
  for (NodeState& n : nodes_) n.grad = n.own_grad;
  if (compute_ == DType::f32 && loss_scale == 1.f)
    nodes_[output_].grad.copy_from(dout);
  else
    ops::cast(dout, nodes_[output_].grad, loss_scale);
  if (profiling_ && !device_.is_cpu()) device_synchronize(device_);
  grad_written_[output_] = true;
  RunContext c = ctx;
  std::vector<Tensor> in, din;
  int64_t reported = flat_grads_.numel() + 1;  // lowest offset reported final so far
  for (int i = output_; i >= 1; --i) {
    NodeState& n = nodes_[i];
    if (!grad_written_[i]) continue;  // nothing downstream reached the loss
    in.clear();
    din.clear();
    const Node& g = graph_.node(i);
    const std::vector<int>& inputs = g.inputs;
    for (size_t k = 0; k < inputs.size(); ++k) {
      const int j = inputs[k];
      in.push_back(nodes_[j].act);
      if (j == 0) {
        din.emplace_back();
      } else if (grad_written_[j]) {
        din.push_back(nodes_[j].scratch);
      } else {
        // A pass-through input takes this node's gradient as its own (no copy); this node's
        // gradient is final and never read again in this pass.
        if (shares_grad_[i][k]) nodes_[j].grad = n.grad;
        din.push_back(nodes_[j].grad);
      }
    }
    c.node = i;
    TraceSpan span(g.name, "backward");
    span.arg("kind", static_cast<int64_t>(g.kind));
    auto t0 = Clock::now();
    n.layer->backward(c, in, n.act, n.grad, din);
    for (int j : inputs) {
      if (j == 0) continue;
      if (grad_written_[j]) ops::add(nodes_[j].grad, nodes_[j].scratch, nodes_[j].grad);
      grad_written_[j] = true;
    }
    for (auto& [mirror, master] : grad_casts_[i]) ops::cast(mirror, master, 1.f);
    if (profiling_) n.bwd_s += since_synced(t0);
    const bool has_params =
        (static_cast<size_t>(i) + 1 < param_begin_.size() ? param_begin_[i + 1]
                                                          : flat_grads_.numel()) > param_begin_[i];
    if (grad_ready_ && has_params && param_begin_[i] < reported) {
      reported = param_begin_[i];
      grad_ready_(reported);
    }
  }
  // Nodes that never reached the loss keep their gradients: everything is final now.
  if (grad_ready_ && reported > 0) grad_ready_(0);
}

std::vector<NodeTime> Net::node_times() const {
  std::vector<NodeTime> out;
  for (size_t i = 1; i < nodes_.size(); ++i) {
    const Node& g = graph_.nodes()[i];
    out.push_back({g.name, std::string(op_kind_name(g.kind)), nodes_[i].fwd_s, nodes_[i].bwd_s});
  }
  return out;
}

Graph Net::graph_with_values() const {
  Graph g = graph_;
  const Tensor hp = flat_params_.to(Device::cpu()), hb = flat_buffers_.to(Device::cpu());
  int64_t po = 0, bo = 0;
  for (Node& n : g.nodes()) {
    for (const ParamSpec& s : n.params) {
      n.values[s.name] = hp.view(s.shape, po).clone();
      po += shape_numel(s.shape);
    }
    for (const BufferSpec& s : n.buffers) {
      n.values[s.name] = hb.view(s.shape, bo).clone();
      bo += shape_numel(s.shape);
    }
  }
  return g;
}

void Net::reset_node_times() {
  for (NodeState& n : nodes_) n.fwd_s = n.bwd_s = 0;
}

}  // namespace scaledl
