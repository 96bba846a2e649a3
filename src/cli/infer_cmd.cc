// scaledl infer: a checkpoint (or a registry model) through the inference Engine in fp32, bf16
// or int8: accuracy on a data set (with the fp32 figures beside, as the studies' table), and
// throughput and latency per batch size; summary.json in the run folder.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "cli/infer_common.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "data/source.h"
#include "io/npy.h"
#include "telemetry/jsonl.h"
#include "train/run_setup.h"

namespace scaledl::cli {

namespace {

struct InferArgs {
  ModelFlags model;
  std::string precision = "fp32", data, batches = "1,32", run_dir, logits;
  int threads = 0;
  double seconds = -1;
  CalibFlags calib;
};

std::vector<int64_t> parse_batches(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 1)
      throw Error("flags", "--batch " + s + ": give positive batch sizes separated by commas");
    out.push_back(v);
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double at = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(at);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

// Runs batches of b random inputs for `seconds` (after two warm-up runs): images/s and latency.
nlohmann::json measure(infer::Engine& e, const LoadedModel& m, int64_t b, double seconds) {
  Shape s{b, m.in_channels, m.image_size, m.image_size};
  Tensor x = Tensor::empty(s);
  Rng r(9);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = r.normal(0.f, 1.f);
  using Clock = std::chrono::steady_clock;
  e.run(x);
  e.run(x);
  std::vector<double> ms;
  const auto t0 = Clock::now();
  double total = 0;
  while (total < seconds || ms.size() < 3) {
    const auto t = Clock::now();
    e.run(x);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    total = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const double ips = static_cast<double>(b) * static_cast<double>(ms.size()) / total;
  std::printf(
      "batch %lld: %.1f images/s  latency p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  (%zu runs)\n",
      static_cast<long long>(b), ips, percentile(ms, 50), percentile(ms, 90), percentile(ms, 99),
      ms.size());
  return {{"images_per_sec", ips},
          {"latency_ms",
           {{"p50", percentile(ms, 50)}, {"p90", percentile(ms, 90)}, {"p99", percentile(ms, 99)}}},
          {"runs", ms.size()}};
}

nlohmann::json accuracy_json(const EvalResult& r) {
  return {{"top1", r.top1}, {"top5", r.top5}, {"loss", r.loss}, {"samples", r.samples}};
}

}  // namespace

Runner add_infer(CLI::App& app) {
  auto a = std::make_shared<InferArgs>();
  CLI::App* c = app.add_subcommand(
      "infer", "Run a model through the inference engine (fp32, bf16, int8): accuracy, speed");
  c->add_option("--config", "JSON file of flag: value; flags given here override it");
  add_model_flags(*c, a->model);
  c->add_option("--precision", a->precision, "fp32, bf16 or int8")->capture_default_str();
  add_calib_flags(*c, a->calib);
  c->add_option("--data", a->data, "accuracy on this source's test split (top-1, top-5)");
  c->add_option("--batch", a->batches,
                "batch sizes for speed (comma-separated); the largest "
                "is the engine's and the accuracy pass's")
      ->capture_default_str();
  c->add_option("--seconds", a->seconds,
                "speed: seconds per batch size (default 5 without --data, 0 with it)");
  c->add_option("--threads", a->threads, "compute threads (0: one per core)");
  c->add_option("--run-dir", a->run_dir, "folder for summary.json (default runs/infer-MODEL-TIME)");
  c->add_option("--save-logits", a->logits, "--data: the outputs as [N, classes] float32 .npy");
  return [a] {
    set_num_threads(a->threads);
    const infer::Precision prec = infer::parse_precision(a->precision);
    if (const std::string why = infer::cpu_precision_problem(prec); !why.empty())
      throw Error("infer", "--precision " + a->precision + ": " + why);
    if (!a->logits.empty() && a->data.empty())
      throw Error("flags", "--save-logits needs --data (the images whose outputs to save)");
    const std::vector<int64_t> batches = parse_batches(a->batches);
    const int64_t max_batch = *std::max_element(batches.begin(), batches.end());
    const double seconds = a->seconds >= 0 ? a->seconds : (a->data.empty() ? 5.0 : 0.0);
    const std::string run_dir =
        a->run_dir.empty() ? default_run_dir("infer-" + a->model.kind()) : a->run_dir;
    ensure_run_dir(run_dir);
    bool qdq = false;
    LoadedModel m = load_model(a->model, &qdq);
    nlohmann::json summary{
        {"model", m.name},       {"precision", a->precision}, {"checkpoint", a->model.checkpoint},
        {"onnx", a->model.onnx}, {"threads", num_threads()},  {"image_size", m.image_size}};
    infer::EngineOptions o;
    o.precision = prec;
    o.max_batch = max_batch;
    o.keep_fp32 = a->calib.keep_fp32;
    if (prec == infer::Precision::int8) {
      nlohmann::json about;
      o.thresholds = model_thresholds(m, a->calib, qdq, about);
      summary["calibration"] = about;
    }
    infer::Engine e(m.graph, o);
    summary["peak_activation_bytes"] = e.peak_activation_bytes();
    summary["unplanned_activation_bytes"] = e.unplanned_activation_bytes();
    summary["weight_bytes"] = e.weight_bytes();
    summary["nodes_not_quantized"] = e.nodes_not_quantized();
    std::printf(
        "%s %s: %d nodes after the passes; activations %.1f MB planned (%.1f MB "
        "unplanned), weights %.1f MB\n",
        m.name.c_str(), a->precision.c_str(), e.graph().size(),
        static_cast<double>(e.peak_activation_bytes()) / 1e6,
        static_cast<double>(e.unplanned_activation_bytes()) / 1e6,
        static_cast<double>(e.weight_bytes()) / 1e6);
    for (const std::string& n : e.nodes_not_quantized()) std::printf("  in fp32: %s\n", n.c_str());
    if (!a->data.empty()) {
      auto loader = eval_loader(m, a->data, max_batch, "--data");
      std::vector<float> logits;
      const EvalResult r = evaluate_engine(e, *loader, a->logits.empty() ? nullptr : &logits);
      summary.update(accuracy_json(r));
      std::printf("top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%lld images, %.1f s)\n", r.top1, r.top5,
                  r.loss, static_cast<long long>(r.samples), r.seconds);
      if (prec != infer::Precision::fp32) {
        infer::EngineOptions f32;
        f32.max_batch = max_batch;
        infer::Engine ref(m.graph, f32);
        const EvalResult rf = evaluate_engine(ref, *loader);
        summary["fp32_top1"] = rf.top1;
        summary["fp32_top5"] = rf.top5;
        summary["top1_delta"] = r.top1 - rf.top1;
        summary["top5_delta"] = r.top5 - rf.top5;
        std::printf(
            "fp32: top-1 %.2f%%  top-5 %.2f%%  (%s - fp32: top-1 %+.2f, top-5 %+.2f points)\n",
            rf.top1, rf.top5, a->precision.c_str(), r.top1 - rf.top1, r.top5 - rf.top5);
      }
      if (!a->logits.empty()) {
        write_npy_f32(a->logits, {r.samples, static_cast<int64_t>(m.classes)}, logits.data());
        summary["logits"] = a->logits;
      }
    }
    if (seconds > 0) {
      nlohmann::json ips, lat;
      for (int64_t b : batches) {
        const nlohmann::json j = measure(e, m, b, seconds);
        ips[std::to_string(b)] = j["images_per_sec"];
        lat[std::to_string(b)] = j["latency_ms"];
      }
      summary["images_per_sec"] = ips;
      summary["latency_ms"] = lat;
    }
    write_json_atomic(run_dir + "/summary.json", summary);
    std::printf("summary: %s/summary.json\n", run_dir.c_str());
    return 0;
  };
}

}  // namespace scaledl::cli
