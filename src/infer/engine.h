// Engine: the inference executor of a graph on the CPU (oneDNN). It takes a graph with values,
// runs the inference passes, packs each weight once in the layout its primitive prefers, plans
// activation memory by liveness, and runs batches of up to max_batch samples in fp32, bf16
// (AMX or avx512_bf16) or int8 (s8 weights per output channel, u8/s8 activations per tensor
// from calibration, s32 accumulation, requantization fused into each primitive).
//
// Threading: one run() at a time per Engine (activations live in its arena); oneDNN spreads
// each primitive over the process's compute threads.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "graph/graph.h"

namespace scaledl::infer {

enum class Precision { fp32, bf16, int8 };
Precision parse_precision(const std::string& s, const std::string& flag = "--precision");
std::string_view precision_name(Precision p);
// Why this CPU cannot run `p` fast in oneDNN ("" when it can): bf16 needs avx512_bf16 or AMX,
// int8 needs avx512_vnni, avx_vnni or AMX.
std::string cpu_precision_problem(Precision p);

// Per-tensor calibration: the threshold T of |x| for each node's output (by node name, after
// the inference passes) and for "input". Scales: s8 127/T, u8 255/T.
using Thresholds = std::map<std::string, float>;

// The tensors int8 needs thresholds for in a graph the passes have run on: "input" and every
// node's output (flatten nodes excepted: they are their input).
std::vector<std::string> calibration_tensors(const Graph& passed);

struct EngineOptions {
  Precision precision = Precision::fp32;
  int64_t max_batch = 1;
  // int8 only: the thresholds (required) and the nodes kept in fp32 by policy (node names
  // after the passes, or "first" for the first convolution and "last" for the output node).
  Thresholds thresholds;
  std::vector<std::string> keep_fp32;
};

// One node's output as the engine computed it (calibration observes these).
using Observer = std::function<void(const std::string& node, const Tensor& value_f32_nchw)>;

class Engine {
 public:
  // g: a graph with values (Net::graph_with_values(), a checkpoint, an importer); the passes run
  // here. Throws Error naming the node for anything the engine cannot run.
  Engine(const Graph& g, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // x: f32 [n, C, H, W] (or [n, F]) in nchw, 1 <= n <= max_batch. Returns the output node's
  // value, f32 [n, ...] on the host, valid until the next run().
  const Tensor& run(const Tensor& x);
  // run() that also hands every node's output to `observe` (as f32 nchw host copies).
  const Tensor& run_observed(const Tensor& x, const Observer& observe);

  const Graph& graph() const { return graph_; }  // after the passes
  const EngineOptions& options() const { return options_; }
  // Activation bytes for a max_batch run: the planned arena against one buffer per value.
  int64_t peak_activation_bytes() const;
  int64_t unplanned_activation_bytes() const;
  int64_t weight_bytes() const;
  // int8: nodes that run in fp32 (by policy, or because no int8 kernel takes them), with why.
  std::vector<std::string> nodes_not_quantized() const;
  // What oneDNN did to an int8 node's s8 weights: 1, or 0.5 where the CPU has no VNNI/AMX (its
  // kernels multiply u8 by s8 in 16-bit pairs there, so it keeps weights to 7 bits).
  float weight_scale_adjust(const std::string& node) const;
  // Names of the tensors that int8 needs thresholds for (node outputs after the passes).
  std::vector<std::string> calibration_tensors() const {
    return infer::calibration_tensors(graph_);
  }

  // Internal (infer/plan.h): a compiled batch size; packed weights shared by the plans.
  struct Plan;
  struct Weights;

 private:
  Plan& plan_for(int64_t batch);

  Graph graph_;
  EngineOptions options_;
  std::map<int64_t, std::unique_ptr<Plan>> plans_;
  std::unique_ptr<Weights> weights_;
  std::vector<std::string> not_quantized_;
};

}  // namespace scaledl::infer
