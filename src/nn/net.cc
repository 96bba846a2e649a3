// Net: graph building, flat parameter storage, forward and backward.
#include "nn/net.h"

#include <chrono>
#include <cmath>
#include <string>

#include "core/device_memory.h"
#include "core/error.h"
#include "core/rng.h"
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
    case Init::zeros: t.fill(0.f); break;
    case Init::ones: t.fill(1.f); break;
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
}  // namespace

// Seconds since t0; on a GPU (profiling only) after waiting for the node's queued work, so a
// node's time is its kernels' and not its launches'.
double Net::since_synced(std::chrono::steady_clock::time_point t0) const {
  if (!device_.is_cpu()) device_synchronize(device_);
  return since(t0);
}

Net::Net(std::string name, Shape input_shape) : name_(std::move(name)) {
  Node in;
  in.name = "input";
  in.shape = std::move(input_shape);
  nodes_.push_back(std::move(in));
}

std::string Net::auto_name(std::string_view kind) {
  return std::string(kind) + "_" + std::to_string(nodes_.size());
}

int Net::add(std::unique_ptr<Layer> layer, std::vector<int> inputs, std::string name) {
  SDL_ASSERT(flat_params_.defined() == false, "cannot add layers after init()");
  std::vector<Shape> in_shapes;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const int i = inputs[k];
    SDL_ASSERT(i >= 0 && i < static_cast<int>(nodes_.size()), "input node does not exist");
    for (size_t m = 0; m < k; ++m) SDL_ASSERT(inputs[m] != i, "a node may not take one input twice");
    in_shapes.push_back(nodes_[i].shape);
    ++nodes_[i].consumers;
  }
  Node n;
  n.name = name.empty() ? auto_name(layer->kind()) : std::move(name);
  n.shape = layer->infer(in_shapes);
  n.layer = std::move(layer);
  n.inputs = std::move(inputs);
  nodes_.push_back(std::move(n));
  output_ = static_cast<int>(nodes_.size()) - 1;
  return output_;
}

int Net::conv(int x, int out, int kernel, int stride, int pad, const std::string& name,
              int groups, bool bias, Init init) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad < 0 ? kernel / 2 : pad;
  p.groups = groups;
  return add(std::make_unique<Conv2d>(out, kernel, p, bias, init), {x}, name);
}

int Net::bn(int x, const std::string& name, bool zero_gamma) {
  return add(std::make_unique<BatchNorm2d>(zero_gamma), {x}, name);
}

int Net::relu(int x) { return add(std::make_unique<ReLU>(), {x}); }

int Net::maxpool(int x, int kernel, int stride, int pad, bool ceil_mode) {
  Pool2dParams p{kernel, kernel, stride, stride, pad, pad, ceil_mode, true};
  return add(std::make_unique<Pool2d>(Pool2d::Mode::max, p), {x});
}

int Net::avgpool(int x, int kernel, int stride, int pad, bool ceil_mode, bool count_include_pad) {
  Pool2dParams p{kernel, kernel, stride, stride, pad, pad, ceil_mode, count_include_pad};
  return add(std::make_unique<Pool2d>(Pool2d::Mode::avg, p), {x});
}

int Net::global_avgpool(int x) { return add(std::make_unique<GlobalAvgPool>(), {x}); }
int Net::flatten(int x) { return add(std::make_unique<Flatten>(), {x}); }

int Net::linear(int x, int out, const std::string& name, bool bias, Init init) {
  return add(std::make_unique<Linear>(out, bias, init), {x}, name);
}

int Net::add(int a, int b) { return add(std::make_unique<Add>(), {a, b}); }
int Net::dropout(int x, float p) { return add(std::make_unique<Dropout>(p), {x}); }
int Net::concat(const std::vector<int>& xs) { return add(std::make_unique<Concat>(), xs); }

void Net::init(uint64_t seed, bool zero_init_residual) {
  if (!flat_params_.defined()) {
    int64_t np = 0, nb = 0;
    for (Node& n : nodes_) {
      if (!n.layer) continue;
      for (const ParamSpec& s : n.layer->param_specs()) np += shape_numel(s.shape);
      for (const BufferSpec& s : n.layer->buffer_specs()) nb += shape_numel(s.shape);
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
  for (Node& n : nodes_) {
    if (!n.layer) continue;
    for (ParamSpec s : n.layer->param_specs()) {
      if (zero_init_residual && s.zero_for_residual_init) s.init = Init::zeros;
      Rng rng(hash_words(seed, pi++));
      Tensor v = hp.view(s.shape, po);
      init_tensor(v, s, rng);
      po += shape_numel(s.shape);
    }
    for (const BufferSpec& s : n.layer->buffer_specs()) {
      hb.view(s.shape, bo).fill(s.init);
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
    Node& n = nodes_[i];
    param_begin_[i] = po;
    if (!n.layer) continue;
    std::vector<Tensor> ps, gs, bs;
    for (const ParamSpec& s : n.layer->param_specs()) {
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
    for (const BufferSpec& s : n.layer->buffer_specs()) {
      bs.push_back(flat_buffers_.view(s.shape, bo));
      bo += shape_numel(s.shape);
      buffers_.push_back({n.name + "." + s.name, bs.back()});
    }
    n.layer->bind(std::move(ps), std::move(gs), std::move(bs));
  }
}

void Net::place(Device device, DType compute) {
  SDL_ASSERT(flat_params_.defined(), "Net::init() must come before place()");
  if (compute != DType::f32 && compute != DType::f16 && compute != DType::bf16)
    throw Error("net", "compute dtype must be f32, f16 or bf16, got " +
                           std::string(dtype_name(compute)));
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
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    Shape s{batch};
    s.insert(s.end(), n.shape.begin(), n.shape.end());
    n.act = i == 0 ? Tensor() : Tensor::empty(s, compute_, device_, layout);
    n.own_grad = i == 0 ? Tensor() : Tensor::empty(s, compute_, device_, layout);
    n.grad = n.own_grad;
    n.scratch = n.consumers > 1 ? Tensor::empty(s, compute_, device_, layout) : Tensor();
  }
  grad_written_.assign(nodes_.size(), false);
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
  Node& in = nodes_[0];
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
  want.insert(want.end(), nodes_[0].shape.begin(), nodes_[0].shape.end());
  if (x.shape() != want)
    throw Error("net", name_ + " expects input " + shape_str(want) + ", got " + x.str());
  input_on_device(x);
  if (half_params_.defined()) ops::cast(flat_params_, half_params_, 1.f);
  if (profiling_ && !device_.is_cpu()) device_synchronize(device_);
  RunContext c = ctx;
  std::vector<Tensor> in;
  for (size_t i = 1; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    in.clear();
    for (int j : n.inputs) in.push_back(nodes_[j].act);
    c.node = static_cast<int>(i);
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
  for (Node& n : nodes_) n.grad = n.own_grad;
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
    Node& n = nodes_[i];
    if (!grad_written_[i]) continue;  // nothing downstream reached the loss
    in.clear();
    din.clear();
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int j = n.inputs[k];
      in.push_back(nodes_[j].act);
      if (j == 0) {
        din.emplace_back();
      } else if (grad_written_[j]) {
        din.push_back(nodes_[j].scratch);
      } else {
        // A pass-through input takes this node's gradient as its own (no copy); this node's
        // gradient is final and never read again in this pass.
        if (n.layer->passes_gradient(static_cast<int>(k))) nodes_[j].grad = n.grad;
        din.push_back(nodes_[j].grad);
      }
    }
    c.node = i;
    auto t0 = Clock::now();
    n.layer->backward(c, in, n.act, n.grad, din);
    for (int j : n.inputs) {
      if (j == 0) continue;
      if (grad_written_[j])
        ops::add(nodes_[j].grad, nodes_[j].scratch, nodes_[j].grad);
      grad_written_[j] = true;
    }
    for (auto& [mirror, master] : grad_casts_[i]) ops::cast(mirror, master, 1.f);
    if (profiling_) n.bwd_s += since_synced(t0);
    const bool has_params = (static_cast<size_t>(i) + 1 < param_begin_.size()
                                 ? param_begin_[i + 1]
                                 : flat_grads_.numel()) > param_begin_[i];
    if (grad_ready_ && has_params && param_begin_[i] < reported) {
      reported = param_begin_[i];
      grad_ready_(reported);
    }
  }
  // Nodes that never reached the loss keep their gradients: everything is final now.
  if (grad_ready_ && reported > 0) grad_ready_(0);
}

int64_t Net::num_params() const {
  int64_t n = 0;
  for (const Node& node : nodes_)
    if (node.layer)
      for (const ParamSpec& s : node.layer->param_specs()) n += shape_numel(s.shape);
  return n;
}

int64_t Net::flops() const {
  int64_t f = 0;
  for (const Node& n : nodes_) {
    if (!n.layer) continue;
    std::vector<Shape> in;
    for (int j : n.inputs) in.push_back(nodes_[j].shape);
    f += n.layer->flops(in, n.shape);
  }
  return f;
}

std::vector<NodeTime> Net::node_times() const {
  std::vector<NodeTime> out;
  for (const Node& n : nodes_)
    if (n.layer) out.push_back({n.name, std::string(n.layer->kind()), n.fwd_s, n.bwd_s});
  return out;
}

void Net::reset_node_times() {
  for (Node& n : nodes_) n.fwd_s = n.bwd_s = 0;
}

}  // namespace scaledl
