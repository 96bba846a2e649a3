// Engine: passes, per-node precision, weight scales, plans per batch size, and running them.
#include "infer/engine.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cpu/dnnl_common.h"
#include "core/error.h"
#include "infer/passes/passes.h"
#include "infer/plan.h"

namespace scaledl::infer {

using namespace cpu::dnnl_detail;

Precision parse_precision(const std::string& s, const std::string& flag) {
  if (s == "fp32") return Precision::fp32;
  if (s == "bf16") return Precision::bf16;
  if (s == "int8") return Precision::int8;
  throw Error("infer", flag + " " + s + " is not a precision; use fp32, bf16 or int8");
}

std::string_view precision_name(Precision p) {
  switch (p) {
    case Precision::fp32:
      return "fp32";
    case Precision::bf16:
      return "bf16";
    case Precision::int8:
      return "int8";
  }
  return "?";
}

std::string cpu_precision_problem(Precision p) {
  using isa = dnnl::cpu_isa;
  const isa have = dnnl::get_effective_cpu_isa();
  auto at_least = [&](std::initializer_list<isa> ok) {
    return std::find(ok.begin(), ok.end(), have) != ok.end();
  };
  if (p == Precision::bf16 && !at_least({isa::avx512_core_bf16, isa::avx512_core_amx}))
    return "this CPU has neither avx512_bf16 nor AMX: oneDNN would run bf16 by emulation, "
           "slower than fp32; use --precision fp32 or int8";
  if (p == Precision::int8 &&
      !at_least({isa::avx2, isa::avx2_vnni, isa::avx512_core, isa::avx512_core_vnni,
                 isa::avx512_core_bf16, isa::avx512_core_amx}))
    return "this CPU has no AVX2: oneDNN has no fast int8 kernels for it; use --precision fp32";
  return "";
}

std::vector<float> weight_scales(const Tensor& w) {
  const int64_t O = w.dim(0), per = w.numel() / O;
  std::vector<float> s(static_cast<size_t>(O));
  for (int64_t o = 0; o < O; ++o) {
    float m = 0.f;
    for (int64_t k = 0; k < per; ++k) m = std::max(m, std::fabs(w.data<float>()[o * per + k]));
    s[static_cast<size_t>(o)] = m > 0.f ? 127.f / m : 1.f;
  }
  return s;
}

namespace {

// Whether oneDNN multiplies u8 by s8 without 16-bit intermediate sums (VNNI or AMX). Without
// it, its gemm-based int8 inner products saturate on 8-bit weights: those get 7 (its
// convolutions do the same by themselves, through the weights' scale adjustment).
bool cpu_has_vnni() {
  using isa = dnnl::cpu_isa;
  const isa have = dnnl::get_effective_cpu_isa();
  return have == isa::avx512_core_vnni || have == isa::avx512_core_bf16 ||
         have == isa::avx512_core_amx || have == isa::avx2_vnni;
}

bool quantizable(OpKind k) {
  return k == OpKind::conv2d || k == OpKind::linear;
}
// Kinds that run in whatever type their input arrives in (int8 included).
bool follows_input(OpKind k) {
  return k == OpKind::maxpool2d || k == OpKind::avgpool2d || k == OpKind::global_avgpool ||
         k == OpKind::relu || k == OpKind::concat || k == OpKind::flatten;
}

}  // namespace

Engine::Engine(const Graph& g, EngineOptions options)
    : graph_(passes::optimize_for_inference(g)),
      options_(std::move(options)),
      weights_(std::make_unique<Weights>()) {
  if (options_.max_batch < 1) throw Error("infer", "--batch must be at least 1");
  if (!g.has_values()) throw Error("infer", "the graph of " + g.name() + " carries no weights");
  int first_conv = -1;
  for (int i = 1; i < graph_.size() && first_conv < 0; ++i)
    if (quantizable(graph_.node(i).kind)) first_conv = i;
  auto kept = [&](int i) {
    for (const std::string& k : options_.keep_fp32)
      if (k == graph_.node(i).name || (k == "first" && i == first_conv) ||
          (k == "last" && i == graph_.output()))
        return true;
    return false;
  };
  for (const std::string& k : options_.keep_fp32) {
    bool found = k == "first" || k == "last";
    for (const Node& n : graph_.nodes()) found = found || n.name == k;
    if (!found)
      throw Error("infer", "--keep-fp32 " + k +
                               ": no such node after the inference passes; "
                               "name a convolution or linear node, or first/last");
  }
  Weights& w = *weights_;
  w.modes.assign(static_cast<size_t>(graph_.size()), Mode::f32);
  for (int i = 1; i < graph_.size(); ++i) {
    const Node& n = graph_.node(i);
    Mode& m = w.modes[static_cast<size_t>(i)];
    switch (options_.precision) {
      case Precision::fp32:
        m = Mode::f32;
        break;
      case Precision::bf16:
        m = n.kind == OpKind::batchnorm2d || n.kind == OpKind::channel_pad ||
                    n.kind == OpKind::softmax || n.kind == OpKind::lrn
                ? Mode::f32
                : Mode::bf16;
        break;
      case Precision::int8:
        if (follows_input(n.kind)) {
          m = Mode::int8;
        } else if (quantizable(n.kind) && !kept(i)) {
          m = Mode::int8;
          w.scales[n.name] = weight_scales(n.value("weight"));
          // Without VNNI/AMX, oneDNN multiplies u8 by s8 with vpmaddubsw, whose int16 pair
          // sums saturate on 8-bit weights: inner products always, convolutions whose input is
          // u8 (after a ReLU) too. Those get 7-bit weights here; oneDNN adjusts the s8-input
          // convolutions itself (Engine::weight_scale_adjust reports both).
          const bool u8_in = n.kind == OpKind::conv2d && nonnegative(graph_, n.inputs.at(0));
          if ((n.kind == OpKind::linear || u8_in) && !cpu_has_vnni()) {
            for (float& v : w.scales[n.name]) v *= 0.5f;
            w.adjust[n.name] = 0.5f;
          }
        } else {
          m = Mode::f32;
          not_quantized_.push_back(
              n.name + " (" + std::string(op_kind_name(n.kind)) + ": " +
              (quantizable(n.kind) ? "kept in fp32 by --keep-fp32" : "no int8 kernel") + ")");
        }
        break;
    }
  }
  if (options_.precision == Precision::int8)
    for (const std::string& t : calibration_tensors())
      if (!options_.thresholds.count(t))
        throw Error("infer", "int8 needs a calibration threshold for every tensor; '" + t +
                                 "' has none: pass --calib-data (or a matching --calib-cache)");
  plan_for(options_.max_batch);  // packs the weights and reports planned memory up front
}

Engine::~Engine() = default;

std::vector<std::string> calibration_tensors(const Graph& passed) {
  std::vector<std::string> names{"input"};
  for (int i = 1; i < passed.size(); ++i)
    if (passed.node(i).kind != OpKind::flatten) names.push_back(passed.node(i).name);
  return names;
}

Engine::Plan& Engine::plan_for(int64_t batch) {
  auto it = plans_.find(batch);
  if (it != plans_.end()) return *it->second;
  return *plans_.emplace(batch, build_plan(graph_, options_, *weights_, batch)).first->second;
}

const Tensor& Engine::run(const Tensor& x) {
  return run_observed(x, nullptr);
}

const Tensor& Engine::run_observed(const Tensor& x, const Observer& observe) {
  Shape want = graph_.input_shape();
  const int64_t n = x.ndim() > 0 ? x.dim(0) : 0;
  want.insert(want.begin(), n);
  if (x.shape() != want || x.dtype() != DType::f32 || !x.device().is_cpu() ||
      (x.ndim() == 4 && x.layout() != Layout::nchw))
    throw Error("infer", graph_.name() + " takes f32 nchw " + shape_str(want) +
                             " on the cpu, got " + x.str());
  if (n < 1 || n > options_.max_batch)
    throw Error("infer", "batch of " + std::to_string(n) +
                             " samples; this engine was built for 1 to " +
                             std::to_string(options_.max_batch));
  Plan& p = plan_for(n);
  p.values[static_cast<size_t>(p.input)].mem.set_data_handle(x.raw());
  dnnl::stream& s = stream();
  for (Step& step : p.steps) {
    step.prim.execute(s, step.args);
    if (!observe || step.node < 0) continue;
    Value& v = p.values[static_cast<size_t>(p.node_value[static_cast<size_t>(step.node)])];
    const memory::dims d = v.md.dims();
    Tensor t = Tensor::empty(Shape(d.begin(), d.end()));
    const memory::desc plain(d, dt::f32, d.size() == 4 ? tag::nchw : tag::nc);
    dnnl::primitive_attr attr;
    if (v.scale != 1.f) attr.set_output_scales(0, {1.f / v.scale});
    memory dst(plain, engine(), t.raw());
    dnnl::reorder(dnnl::reorder::primitive_desc(engine(), v.md, engine(), plain, attr))
        .execute(s, v.mem, dst);
    s.wait();
    observe(graph_.node(step.node).name, t);
  }
  s.wait();
  return p.out;
}

int64_t Engine::peak_activation_bytes() const {
  return plans_.at(options_.max_batch)->memory.arena_bytes;
}
int64_t Engine::unplanned_activation_bytes() const {
  return plans_.at(options_.max_batch)->memory.unplanned_bytes;
}
float Engine::weight_scale_adjust(const std::string& node) const {
  auto it = weights_->adjust.find(node);
  return it == weights_->adjust.end() ? 1.f : it->second;
}
int64_t Engine::weight_bytes() const {
  return weights_->bytes;
}
std::vector<std::string> Engine::nodes_not_quantized() const {
  return not_quantized_;
}

}  // namespace scaledl::infer
