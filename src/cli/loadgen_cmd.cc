// scaledl loadgen: MLPerf Inference's own LoadGen driving the inference Engine (through the
// batching SUT) over a data source, in any of its four scenarios; LoadGen's logs and a
// summary.json in --output. Left out (one line, exit 2) when the build has no LoadGen.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/infer_common.h"
#include "core/error.h"
#include "core/threads.h"
#include "telemetry/jsonl.h"
#include "train/run_setup.h"
#ifdef SCALEDL_HAVE_LOADGEN
#include "loadgen/harness.h"
#include "loadgen/qsl.h"
#include "loadgen/sut.h"
#endif

namespace scaledl::cli {

namespace {

struct LoadgenArgs {
  std::string scenario = "Offline", mode = "performance", data;
  std::string precision = "fp32", user_conf, output, conf_model = "resnet50";
  ModelFlags model;
  CalibFlags calib;
  double target_qps = 0, max_wait_ms = 0;
  bool find_peak = false;
  int64_t max_batch = 0, performance_count = 0, min_duration_ms = -1, min_query_count = -1;
  int threads = 0, workers = 1;
};

#ifdef SCALEDL_HAVE_LOADGEN
int run(const LoadgenArgs& a) {
  set_num_threads(a.threads);
  const mlperf::TestScenario scenario = lg::parse_scenario(a.scenario);
  mlperf::TestMode mode = lg::parse_mode(a.mode);
  if (a.data.empty()) throw Error("flags", "--data SRC: the samples LoadGen queries");
  if (a.find_peak && scenario != mlperf::TestScenario::Server)
    throw Error("flags", "--find-peak-qps searches Server QPS; give --scenario Server");
  if (a.workers < 1) throw Error("flags", "--workers must be at least 1");
  const infer::Precision prec = infer::parse_precision(a.precision);
  if (const std::string why = infer::cpu_precision_problem(prec); !why.empty())
    throw Error("loadgen", "--precision " + a.precision + ": " + why);

  mlperf::TestSettings settings = lg::load_settings(a.conf_model, scenario, a.user_conf);
  settings.mode = mode;
  if (a.target_qps > 0) {
    settings.server_target_qps = a.target_qps;
    settings.offline_expected_qps = a.target_qps;
  }
  if (a.min_duration_ms >= 0) settings.min_duration_ms = static_cast<uint64_t>(a.min_duration_ms);
  if (a.min_query_count >= 0) settings.min_query_count = static_cast<uint64_t>(a.min_query_count);
  if (a.performance_count > 0)
    settings.performance_sample_count_override = static_cast<uint64_t>(a.performance_count);

  int64_t max_batch = a.max_batch;
  if (max_batch <= 0)
    max_batch = scenario == mlperf::TestScenario::Offline ? 32
                : scenario == mlperf::TestScenario::MultiStream
                    ? int64_t(settings.multi_stream_samples_per_query)
                : scenario == mlperf::TestScenario::Server ? 8
                                                           : 1;
  bool qdq = false;
  LoadedModel m = load_model(a.model, &qdq);
  const std::string out = a.output.empty() ? default_run_dir("loadgen-" + a.scenario) : a.output;
  ensure_run_dir(out);
  nlohmann::json summary{
      {"scenario", a.scenario},   {"mode", a.mode},           {"model", m.name},
      {"precision", a.precision}, {"max_batch", max_batch},   {"max_wait_ms", a.max_wait_ms},
      {"workers", a.workers},     {"threads", num_threads()}, {"loadgen_version", "6.0.17"}};
  infer::EngineOptions eo;
  eo.precision = prec;
  eo.max_batch = max_batch;
  eo.keep_fp32 = a.calib.keep_fp32;
  if (prec == infer::Precision::int8) {
    nlohmann::json about;
    eo.thresholds = model_thresholds(m, a.calib, qdq, about);
    summary["calibration"] = about;
  }
  // The samples at the model's size and normalization, as `scaledl infer --data` feeds them.
  auto [src, tf] = eval_data(m, a.data, "--data");
  lg::SampleLibrary qsl(src, std::move(tf),
                        a.performance_count > 0 ? static_cast<size_t>(a.performance_count) : 0);
  if (settings.performance_sample_count_override == 0)
    settings.performance_sample_count_override = qsl.PerformanceSampleCount();

  std::vector<std::unique_ptr<infer::Engine>> engines;
  std::vector<std::unique_ptr<lg::EngineBackend>> backends;
  std::vector<lg::Backend*> workers;
  for (int w = 0; w < a.workers; ++w) {
    engines.push_back(std::make_unique<infer::Engine>(m.graph, eo));
    backends.push_back(std::make_unique<lg::EngineBackend>(*engines.back()));
    // Offline runs whole batches (and one remainder); the others any size up to the largest.
    std::vector<int64_t> sizes{max_batch};
    if (scenario != mlperf::TestScenario::Offline)
      for (int64_t n = 1; n < max_batch; ++n) sizes.push_back(n);
    backends.back()->warm_up(sizes);
    workers.push_back(backends.back().get());
  }
  lg::BatchingSut sut(workers, qsl, {max_batch, a.max_wait_ms});
  std::printf("loadgen %s %s: %s %s, batches up to %lld (wait %.1f ms), %d worker(s), %d threads\n",
              a.scenario.c_str(), a.mode.c_str(), m.name.c_str(), a.precision.c_str(),
              static_cast<long long>(max_batch), a.max_wait_ms, a.workers, num_threads());
  std::fflush(stdout);

  lg::TestResult r;
  if (a.find_peak) {
    std::vector<nlohmann::json> probes;
    const double start = a.target_qps > 0 ? a.target_qps : settings.server_target_qps;
    const double peak = lg::find_peak_qps(
        [&](double qps, int n) {
          mlperf::TestSettings s = settings;
          s.server_target_qps = qps;
          return lg::run_test(sut, qsl, s, out + "/probe-" + std::to_string(n));
        },
        start, 0.02,
        [&](const lg::Probe& p) {
          std::printf("  probe: %.1f QPS  p99 %.2f ms  %s%s%s\n", p.qps, p.p99_ns / 1e6,
                      p.valid ? "VALID" : "INVALID", p.valid ? "" : ": ", p.why.c_str());
          std::fflush(stdout);
          probes.push_back(
              {{"qps", p.qps}, {"p99_ns", p.p99_ns}, {"valid", p.valid}, {"why", p.why}});
        });
    std::printf("peak Server QPS: %.1f (within 2%%; latency bound %.1f ms at p%.0f)\n", peak,
                static_cast<double>(settings.server_target_latency_ns) / 1e6,
                settings.server_target_latency_percentile * 100);
    summary["probes"] = probes;
    summary["peak_qps"] = peak;
    mlperf::TestSettings s = settings;  // the answer, run once more: its logs land in --output
    s.server_target_qps = peak;
    r = lg::run_test(sut, qsl, s, out);
  } else {
    r = lg::run_test(sut, qsl, settings, out);
  }
  if (const std::string e = sut.error(); !e.empty()) throw Error("loadgen", "the SUT failed: " + e);
  summary["results"] = r.results;
  summary["result"] = r.valid ? "VALID" : "INVALID";
  if (!r.valid) summary["invalid_reason"] = lg::invalid_reason(r);
  summary["loadgen_errors"] = r.errors;
  summary["batches"] = sut.batches();
  summary["samples"] = sut.samples();
  if (mode == mlperf::TestMode::AccuracyOnly) {
    int64_t n = 0;
    const double top1 = lg::accuracy_top1(out, qsl, &n);
    summary["top1"] = top1;
    summary["accuracy_samples"] = n;
    summary.erase("result");
    std::printf("accuracy: top-1 %.2f%% over %lld samples (mlperf_log_accuracy.json)\n", top1,
                static_cast<long long>(n));
  } else {
    summary[r.metric_name] = r.metric;
    nlohmann::json lat;
    for (const char* p : {"50.00", "90.00", "95.00", "97.00", "99.00", "99.90"}) {
      const std::string k = std::string("result_") + p + "_percentile_latency_ns";
      if (r.results.contains(k)) lat[p] = r.results[k];
    }
    summary["latency_ns"] = lat;
    if (!r.valid) std::printf("INVALID: %s\n", lg::invalid_reason(r).c_str());
    std::printf("%s: %s = %.1f  %s  (p50 %.2f ms, p99 %.2f ms; %llu batches of %.1f on average)\n",
                a.scenario.c_str(), r.metric_name.c_str(), r.metric, r.valid ? "VALID" : "INVALID",
                lat.value("50.00", 0.0) / 1e6, lat.value("99.00", 0.0) / 1e6,
                static_cast<unsigned long long>(sut.batches()),
                sut.batches() ? double(sut.samples()) / double(sut.batches()) : 0.0);
  }
  write_json_atomic(out + "/summary.json", summary);
  std::printf("logs: %s/mlperf_log_summary.txt, summary: %s/summary.json\n", out.c_str(),
              out.c_str());
  return 0;
}
#endif

}  // namespace

Runner add_loadgen(CLI::App& app) {
  auto a = std::make_shared<LoadgenArgs>();
  CLI::App* c = app.add_subcommand(
      "loadgen", "MLPerf Inference LoadGen (6.0.17) driving the engine: four scenarios, accuracy");
  c->add_option("--config", "JSON file of flag: value; flags given here override it");
  c->add_option("--scenario", a->scenario, "SingleStream, MultiStream, Server or Offline")
      ->capture_default_str();
  c->add_option("--mode", a->mode, "performance, accuracy or find-peak (LoadGen's own search)")
      ->capture_default_str();
  add_model_flags(*c, a->model);
  c->add_option("--precision", a->precision, "fp32, bf16 or int8")->capture_default_str();
  add_calib_flags(*c, a->calib);
  c->add_option("--data", a->data, "the samples (any data source; its test split)");
  c->add_option("--user-conf", a->user_conf, "LoadGen user.conf (after LoadGen's mlperf.conf)");
  c->add_option("--mlperf-model", a->conf_model, "the model's name in mlperf.conf/user.conf keys")
      ->capture_default_str();
  c->add_option("--target-qps", a->target_qps,
                "Server target QPS and Offline expected QPS (the search's start with "
                "--find-peak-qps)");
  c->add_flag("--find-peak-qps", a->find_peak,
              "binary search over Server runs for the highest valid QPS, each probe printed");
  c->add_option("--min-duration-ms", a->min_duration_ms, "override LoadGen's min_duration");
  c->add_option("--min-query-count", a->min_query_count, "override LoadGen's min_query_count");
  c->add_option("--performance-sample-count", a->performance_count,
                "samples held in RAM in performance mode (default: all of --data)");
  c->add_option("--max-batch", a->max_batch,
                "largest batch the SUT runs (default: Offline 32, Server 8, MultiStream its "
                "samples per query, SingleStream 1)");
  c->add_option("--max-wait-ms", a->max_wait_ms,
                "how long a worker waits for a batch to fill (0: run what has arrived)")
      ->capture_default_str();
  c->add_option("--workers", a->workers, "SUT worker threads, one Engine each")
      ->capture_default_str();
  c->add_option("--threads", a->threads, "compute threads (0: one per core)");
  c->add_option("--output", a->output, "folder for LoadGen's logs and summary.json");
  return [a] {
#ifdef SCALEDL_HAVE_LOADGEN
    return run(*a);
#else
    throw Error("loadgen",
                "this build has no MLPerf LoadGen: run scripts/fetch_loadgen (pip "
                "download of mlcommons-loadgen 6.0.17) and rebuild");
    return 2;
#endif
  };
}

}  // namespace scaledl::cli
