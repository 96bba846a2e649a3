// LoadGen settings, runs, results and the QPS search (harness.h).
#include "loadgen/harness.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <mlperf_loadgen/loadgen.h>

#include "core/error.h"

namespace scaledl::lg {

namespace fs = std::filesystem;
using mlperf::TestMode;
using mlperf::TestScenario;

TestScenario parse_scenario(const std::string& s) {
  if (s == "SingleStream") return TestScenario::SingleStream;
  if (s == "MultiStream") return TestScenario::MultiStream;
  if (s == "Server") return TestScenario::Server;
  if (s == "Offline") return TestScenario::Offline;
  throw Error("flags", "--scenario " + s + ": give SingleStream, MultiStream, Server or Offline");
}

std::string scenario_name(TestScenario s) {
  switch (s) {
    case TestScenario::SingleStream:
      return "SingleStream";
    case TestScenario::MultiStream:
      return "MultiStream";
    case TestScenario::Server:
      return "Server";
    case TestScenario::Offline:
      return "Offline";
  }
  return "?";
}

TestMode parse_mode(const std::string& s) {
  if (s == "performance") return TestMode::PerformanceOnly;
  if (s == "accuracy") return TestMode::AccuracyOnly;
  if (s == "find-peak") return TestMode::FindPeakPerformance;
  throw Error("flags", "--mode " + s + ": give performance, accuracy or find-peak");
}

namespace {

// The first line of a conf file LoadGen's FromConfig cannot read: "key = number", '#' comments.
std::string first_bad_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const size_t hash = line.find('#');
    std::istringstream ss(line.substr(0, hash));
    std::string key, eq, value, extra;
    if (!(ss >> key)) continue;
    if (!(ss >> eq) || eq != "=" || !(ss >> value))
      return "line " + std::to_string(n) + ": expected 'key = value'";
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    if (*end) return "line " + std::to_string(n) + ": value needs to be integer or double";
  }
  return "";
}

}  // namespace

mlperf::TestSettings load_settings(const std::string& model, TestScenario scenario,
                                   const std::string& user_conf) {
  mlperf::TestSettings s;
  const std::string scen = scenario_name(scenario);
  if (user_conf.empty()) {
    s.FromConfig("", model, scen, 0);  // mlperf.conf, as LoadGen ships it
    s.scenario = scenario;
    return s;
  }
  std::error_code ec;
  if (!fs::is_regular_file(user_conf, ec))
    throw Error("flags", "--user-conf " + user_conf + ": no such file; give a LoadGen user.conf");
  const int rc = s.FromConfig(user_conf, model, scen);
  if (rc != 0) {
    const std::string why = first_bad_line(user_conf);
    throw Error("loadgen", "--user-conf " + user_conf + ": LoadGen's FromConfig refused it (" +
                               (rc == -ENOENT ? "cannot open it" : "EINVAL") + ")" +
                               (why.empty() ? "" : ": " + why) +
                               "; write lines as model.scenario.key = number");
  }
  s.scenario = scenario;
  return s;
}

TestResult run_test(mlperf::SystemUnderTest& sut, SampleLibrary& qsl,
                    const mlperf::TestSettings& settings, const std::string& outdir) {
  fs::create_directories(outdir);
  mlperf::LogSettings log;
  log.log_output.outdir = outdir;
  log.enable_trace = false;
  mlperf::StartTest(&sut, &qsl, settings, log, (fs::path(outdir) / "audit.config").string());
  TestResult r;
  std::ifstream in(fs::path(outdir) / "mlperf_log_detail.txt");
  if (!in) throw Error("loadgen", outdir + ": LoadGen wrote no mlperf_log_detail.txt");
  std::string line, first_error;
  const std::string tag = ":::MLLOG ";
  while (std::getline(in, line)) {
    const size_t at = line.find(tag);
    if (at == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line.substr(at + tag.size()), nullptr, false);
    if (j.is_discarded() || !j.contains("key")) continue;
    const std::string key = j["key"].get<std::string>();
    if (key.rfind("result_", 0) == 0 || key.rfind("early_stopping_", 0) == 0)
      r.results[key] = j["value"];
    if (key == "error_invalid_test_settings" || key == "error_invalid_config" ||
        key.rfind("error_", 0) == 0) {
      ++r.errors;
      if (first_error.empty()) first_error = key + ": " + j["value"].dump();
    }
  }
  if (r.results.contains("result_validity"))
    r.valid = r.results["result_validity"].get<std::string>() == "VALID";
  auto num = [&](const std::string& k) {
    return r.results.contains(k) && r.results[k].is_number() ? r.results[k].get<double>() : 0.0;
  };
  switch (settings.scenario) {
    case TestScenario::Offline:
      r.metric_name = "samples_per_second";
      r.metric = num("result_samples_per_second");
      break;
    case TestScenario::Server:
      r.metric_name = "scheduled_samples_per_second";
      r.metric = num("result_scheduled_samples_per_sec");
      break;
    case TestScenario::SingleStream:
      r.metric_name = "p90_latency_ns";
      r.metric = num("result_90.00_percentile_latency_ns");
      break;
    case TestScenario::MultiStream:
      r.metric_name = "p99_query_latency_ns";
      r.metric = num("result_99.00_percentile_per_query_latency_ns");
      break;
  }
  if (settings.mode != TestMode::AccuracyOnly && !r.results.contains("result_validity"))
    throw Error("loadgen", outdir + ": LoadGen reported no result" +
                               (first_error.empty() ? "" : " (" + first_error + ")") +
                               "; see mlperf_log_detail.txt there");
  return r;
}

double accuracy_top1(const std::string& outdir, const SampleLibrary& qsl, int64_t* samples) {
  const fs::path p = fs::path(outdir) / "mlperf_log_accuracy.json";
  std::ifstream in(p);
  if (!in) throw Error("loadgen", p.string() + ": LoadGen wrote no accuracy log");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_array())
    throw Error("loadgen", p.string() + ": not the JSON list LoadGen writes");
  int64_t n = 0, right = 0;
  for (const nlohmann::json& e : j) {
    const std::string hex = e.at("data").get<std::string>();
    if (hex.size() != 8) throw Error("loadgen", p.string() + ": a response is not one float32");
    uint8_t b[4];
    for (int k = 0; k < 4; ++k)
      b[k] = static_cast<uint8_t>(std::stoi(hex.substr(2 * k, 2), nullptr, 16));
    float cls;
    std::memcpy(&cls, b, 4);
    const auto idx = e.at("qsl_idx").get<mlperf::QuerySampleIndex>();
    right += static_cast<int32_t>(cls) == qsl.label(idx);
    ++n;
  }
  if (samples) *samples = n;
  return n ? 100.0 * static_cast<double>(right) / static_cast<double>(n) : 0.0;
}

std::string invalid_reason(const TestResult& r) {
  if (r.valid) return "";
  std::string why;
  auto text = [&](const char* k) {
    return r.results.contains(k) && r.results[k].is_string() ? r.results[k].get<std::string>()
                                                             : std::string();
  };
  if (r.results.contains("result_perf_constraints_met") &&
      !r.results["result_perf_constraints_met"].get<bool>())
    why = "latency bound not met";
  if (r.results.contains("result_min_duration_met") &&
      !r.results["result_min_duration_met"].get<bool>())
    why += std::string(why.empty() ? "" : "; ") + "min duration not met";
  if (r.results.contains("result_min_queries_met") &&
      !r.results["result_min_queries_met"].get<bool>())
    why += std::string(why.empty() ? "" : "; ") + "min query count not met";
  if (r.results.contains("early_stopping_met") && !r.results["early_stopping_met"].get<bool>())
    why += std::string(why.empty() ? "" : "; ") + "early stopping:" + text("early_stopping_result");
  const std::string hint = text("result_invalid_reason");
  if (!hint.empty()) why += std::string(why.empty() ? "" : "; ") + hint;
  while (!why.empty() && why.back() == ' ') why.pop_back();
  return why;
}

double find_peak_qps(const std::function<TestResult(double qps, int probe)>& run, double start,
                     double tolerance, const std::function<void(const Probe&)>& probe) {
  auto p99 = [](const TestResult& r) {
    return r.results.contains("result_99.00_percentile_latency_ns")
               ? r.results["result_99.00_percentile_latency_ns"].get<double>()
               : 0.0;
  };
  int n = 0;
  std::string last_why;
  auto test = [&](double qps) {
    const TestResult r = run(qps, n++);
    last_why = invalid_reason(r);
    probe({qps, p99(r), r.valid, last_why});
    return r.valid;
  };
  double lo = 0, hi = 0;
  if (test(start)) {  // double until invalid
    lo = start;
    int k = 0;
    for (hi = start * 2; test(hi); hi *= 2) {
      lo = hi;
      if (++k == 8) return lo;  // valid at 512x the start: report that, the SUT is not the limit
    }
  } else {  // halve until valid
    hi = start;
    int k = 0;
    for (lo = start / 2; !test(lo); lo /= 2) {
      hi = lo;
      if (++k == 8)
        throw Error("loadgen", "no Server QPS down to " + std::to_string(lo) +
                                   " is valid; LoadGen says: " + last_why);
    }
  }
  while (hi - lo > tolerance * lo) {
    const double mid = (lo + hi) / 2;
    (test(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace scaledl::lg
