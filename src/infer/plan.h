// Internal to src/infer: a compiled batch size of an Engine. Values are the activations (each
// with the oneDNN descriptor its producer chose and, for s8/u8, the scale q = x * scale); steps
// are primitives with their arguments. Values share one arena by liveness (core/memory_plan.h).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/memory_plan.h"
#include "core/tensor.h"
#include "infer/engine.h"
#include "infer/quant.h"

namespace scaledl::infer {

using dnnl::memory;

struct Value {
  memory::desc md;
  float scale = 1.f;          // s8/u8: q = round(x * scale); 1 otherwise
  int alias = -1;             // shares the memory of this value (a residual summed in place)
  int first = -1, last = -1;  // steps that write it first and read it last
  bool external = false;      // the caller's input or the plan's output tensor
  memory mem;                 // bound after planning
};

struct Step {
  dnnl::primitive prim;
  std::vector<std::pair<int, int>> values;  // (DNNL_ARG_*, value id)
  std::unordered_map<int, memory> args;     // constants now, values after planning
  int node = -1;  // the graph node whose output is final after this step (-1: none)
};

// How a node runs: its compute type.
enum class Mode : uint8_t { f32, bf16, int8 };

struct Engine::Plan {
  int64_t batch = 0;
  std::vector<Value> values;
  std::vector<Step> steps;
  std::vector<int> node_value;  // graph node -> value id
  int input = -1, output = -1;
  MemoryPlan memory;
  std::shared_ptr<uint8_t> arena, scratchpad;
  Tensor out;  // the output value's memory, f32 plain
};

// Packed weights and their scales, shared by every plan of an Engine.
struct Engine::Weights {
  struct Packed {
    memory::desc md;
    memory mem;
  };
  std::map<std::string, std::vector<Packed>> packed;  // node name -> packings made so far
  std::map<std::string, std::vector<float>> scales;   // int8: node -> per output channel
  std::map<std::string, memory> biases;               // node name + "|" + input scale
  std::map<std::string, float> adjust;                // oneDNN's s8 weight scale adjustment
  std::vector<Mode> modes;                            // per graph node
  int64_t bytes = 0;
};

// Builds the plan for `batch` samples (engine_build.cc).
std::unique_ptr<Engine::Plan> build_plan(const Graph& g, const EngineOptions& o, Engine::Weights& w,
                                         int64_t batch);

}  // namespace scaledl::infer
