// Running LoadGen: its settings (MLPerf's mlperf.conf built into LoadGen, then a user.conf, then
// flags), one test with its logs in a folder, the results read back from LoadGen's own detail
// log, accuracy from its accuracy log, and the studies' Server QPS search.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <mlperf_loadgen/system_under_test.h>
#include <mlperf_loadgen/test_settings.h>
#include <nlohmann/json.hpp>

#include "loadgen/qsl.h"

namespace scaledl::lg {

mlperf::TestScenario parse_scenario(const std::string& s);  // Error naming --scenario
std::string scenario_name(mlperf::TestScenario s);
mlperf::TestMode parse_mode(const std::string& s);  // performance, accuracy, find-peak

// LoadGen's settings for `model` (the key mlperf.conf and user.conf use: resnet50, ...) and
// scenario: mlperf.conf's, then `user_conf`'s when given (Error naming the file, LoadGen's
// return code and the first line it cannot read).
mlperf::TestSettings load_settings(const std::string& model, mlperf::TestScenario scenario,
                                   const std::string& user_conf);

// What LoadGen measured: every "result_*" and "early_stopping_*" entry of its detail log.
struct TestResult {
  bool valid = false;
  nlohmann::json results;  // key -> value as logged
  double metric = 0;       // the scenario's: samples/s (Offline), scheduled QPS (Server), or the
                           // latency percentile in ns (SingleStream p90, MultiStream p99)
  std::string metric_name;
  int errors = 0;  // LoadGen's own logged errors
};

// Runs one test with logs in `outdir` (created). Throws Error when LoadGen logged an error
// that makes the run meaningless (a sample count it cannot use, a setting out of range).
TestResult run_test(mlperf::SystemUnderTest& sut, SampleLibrary& qsl,
                    const mlperf::TestSettings& settings, const std::string& outdir);

// top-1 of an accuracy run: LoadGen's mlperf_log_accuracy.json in `outdir` (each response the
// class as float32, hex-encoded), against the library's labels. Also the sample count.
double accuracy_top1(const std::string& outdir, const SampleLibrary& qsl, int64_t* samples);

// The studies' search: Server runs at QPS between a valid `lo` and an invalid `hi` (found by
// doubling or halving from `start`, at most 8 times each way) until hi - lo <= tolerance * lo;
// each probe is reported to `probe`. Returns the highest valid QPS; throws Error with LoadGen's
// reason when even start / 256 is invalid.
struct Probe {
  double qps = 0, p99_ns = 0;
  bool valid = false;
  std::string why;  // LoadGen's reason when invalid (result_invalid_reason, early stopping)
};
// LoadGen's reason a run is invalid, in one line ("" when valid).
std::string invalid_reason(const TestResult& r);
double find_peak_qps(const std::function<TestResult(double qps, int probe)>& run, double start,
                     double tolerance, const std::function<void(const Probe&)>& probe);

}  // namespace scaledl::lg
