// Net: the training executor of a Graph (one Layer per node). init() places every parameter and
// gradient in one flat f32 buffer each (views per layer), place() moves them to a device and picks
// the compute dtype, setup() allocates activations for a batch size and layout,
// forward()/backward() run it.
//
// Mixed precision (compute dtype f16 or bf16): the flat f32 parameters stay the master copy
// that the optimizer updates; forward() first casts them into a mirror of the compute dtype,
// which the layers read (batch norm's parameters excepted: they stay f32). Activations and
// their gradients are in the compute dtype; each layer's mirrored weight gradients are cast
// into the flat f32 gradients as soon as its backward is done, so gradient buckets and the
// optimizer only ever see f32.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "nn/layer.h"

namespace scaledl {

struct NetParam {
  std::string name;  // PyTorch state_dict name, e.g. "layer1.0.conv1.weight"
  Tensor value, grad;
  bool is_norm_or_bias = false;
};

struct NetBuffer {
  std::string name;  // e.g. "bn1.running_mean"
  Tensor value;
};

// Seconds spent in one node, summed over the calls since the last reset.
struct NodeTime {
  std::string name, kind;
  double forward_s = 0, backward_s = 0;
};

class Net {
 public:
  // The graph must carry no fused nodes (those run only in the inference engine).
  explicit Net(Graph graph);
  Net(const Net&) = delete;
  Net& operator=(const Net&) = delete;

  // --- state ---
  // Allocates the flat parameter/gradient/buffer storage and initializes it from `seed`.
  // zero_init_residual: the last BN gamma of each residual branch starts at 0 (Goyal et al.).
  // Parameters and buffers the graph carries values for take those values instead.
  void init(uint64_t seed, bool zero_init_residual = false);
  // Moves parameters, gradients and buffers to `device` and computes in `compute` (f32, f16 or
  // bf16). After init(), before setup().
  void place(Device device, DType compute);
  // Allocates activations and gradients for `batch` samples in `layout` (4-D tensors). Unless
  // planning is off, the activation gradients share one arena by liveness (net_memory.cc) and
  // a ReLU after a convolution, batch norm or residual sum overwrites that output in place.
  void setup(int64_t batch, Layout layout);
  // Off: every node keeps its own activation and gradient buffers, as before planning (for
  // comparison). Takes effect at the next setup().
  void set_memory_planning(bool on);
  // On (the default) with memory planning: a batch norm followed by an in-place ReLU runs both
  // in one kernel where the backend supports it (the cpu and reference backends). Takes effect
  // at the next setup().
  void set_fuse_bn_relu(bool on);

  // --- running ---
  // x: f32 [batch, input_shape...] in any layout, on any device (copied to the net's).
  // Returns the output node's activation, f32 on the net's device.
  const Tensor& forward(const Tensor& x, const RunContext& ctx);
  // On a GPU: starts copying the next batch's x (pinned host memory, valid until the next
  // forward) to the device on the copy stream, overlapping the work already queued; the
  // forward() given the same x then reads the copy. Two buffers alternate, so the copy never
  // touches the input the queued work reads. A no-op on the cpu.
  void stage_input(const Tensor& x);
  // dout: f32 gradient of the loss w.r.t. the output, on the net's device. Fills every parameter
  // gradient with loss_scale times its value (mixed precision scales the loss so that small
  // f16 gradients do not flush to zero; the optimizer divides it out).
  void backward(const Tensor& dout, const RunContext& ctx, float loss_scale = 1.f);
  // Called during backward each time more gradients are final: every element of flat_grads() at
  // offset >= ready_from is final (parameters are laid out in node order and backward runs in
  // reverse, so the final part grows from the end). Data-parallel training starts each gradient
  // bucket's allreduce from here, overlapped with the rest of backward.
  using GradReadyHook = std::function<void(int64_t ready_from)>;
  void set_grad_ready_hook(GradReadyHook hook) { grad_ready_ = std::move(hook); }

  // --- inspection ---
  const Graph& graph() const { return graph_; }
  // The graph with every parameter and buffer's current value (host copies): what the
  // inference engine and exporters take.
  Graph graph_with_values() const;
  const std::string& name() const { return graph_.name(); }
  const Shape& input_shape() const { return graph_.input_shape(); }
  const Shape& output_shape() const { return graph_.output_shape(); }
  int64_t batch() const { return batch_; }
  Layout layout() const { return layout_; }
  Device device() const { return device_; }
  DType compute_dtype() const { return compute_; }
  const std::vector<NetParam>& params() const { return params_; }
  const std::vector<NetBuffer>& buffers() const { return buffers_; }
  const Tensor& flat_params() const { return flat_params_; }
  const Tensor& flat_grads() const { return flat_grads_; }
  const Tensor& flat_buffers() const { return flat_buffers_; }  // BN running statistics
  int64_t num_params() const { return graph_.num_params(); }
  int64_t flops() const { return graph_.flops(); }  // one sample's forward, multiply-adds x 2
  size_t num_nodes() const { return nodes_.size(); }
  // Bytes setup() allocated for a batch: activations (one per node), activation gradients
  // (the arena, or one per node unplanned) and what they would take one per node.
  struct Memory {
    int64_t activation_bytes = 0, gradient_bytes = 0, gradient_bytes_unplanned = 0;
    int fused_bn_relu = 0;  // batch norm + ReLU pairs run as one kernel
  };
  const Memory& memory() const { return memory_; }
  // Per-node times (on a GPU each node then waits for its kernels: slower, but true times).
  void set_profiling(bool on) { profiling_ = on; }
  std::vector<NodeTime> node_times() const;
  void reset_node_times();

 private:
  // Run state of graph node i (nodes_[i]).
  struct NodeState {
    std::unique_ptr<Layer> layer;  // null for the input
    int consumers = 0;
    Tensor act, grad, scratch;
    Tensor own_grad;  // grad's own storage; grad may alias a consumer's for one backward pass
    double fwd_s = 0, bwd_s = 0;
  };
  double since_synced(std::chrono::steady_clock::time_point t0) const;
  void bind_layers();
  void place_gradients(const std::vector<Shape>& shapes);  // net_memory.cc
  int relu_in_place_of(int node) const;
  void fuse_bn_relu();     // after the activations are placed, before the gradients
  void share_gradients();  // net_memory.cc; after fuse_bn_relu (pass-through ReLUs)
  const Tensor& input_on_device(const Tensor& x);

  Graph graph_;
  std::vector<NodeState> nodes_;  // per graph node
  int output_ = 0;
  std::vector<NetParam> params_;
  std::vector<NetBuffer> buffers_;
  Tensor flat_params_, flat_grads_, flat_buffers_;
  Tensor half_params_, half_grads_;  // compute-dtype mirrors (mixed precision only)
  // Per node: (mirror gradient view, f32 gradient view) of its mirrored parameters.
  std::vector<std::vector<std::pair<Tensor, Tensor>>> grad_casts_;
  Tensor staged_input_, out_f32_;    // the input copied to the device; the f32 output
  Tensor ahead_[2];                  // stage_input's alternating device buffers
  const void* ahead_src_ = nullptr;  // the host data the newest of them holds
  int ahead_next_ = 0;
  Device device_ = Device::cpu();
  DType compute_ = DType::f32;
  int64_t batch_ = 0;
  Layout layout_ = Layout::nchw;
  bool profiling_ = false;
  bool plan_memory_ = true;
  bool fuse_bn_relu_ = true;
  Memory memory_;
  Tensor grad_arena_;
  std::vector<bool> grad_written_;
  // Per node, per input: backward hands that input the node's own gradient buffer.
  std::vector<std::vector<bool>> shares_grad_;
  std::vector<int64_t> param_begin_;  // per node: flat offset of its first parameter
  GradReadyHook grad_ready_;
};

}  // namespace scaledl
