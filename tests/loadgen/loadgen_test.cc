// The harness under MLPerf's real LoadGen with fake backends of known speed: each scenario VALID
// for a SUT that can meet it and INVALID for one that cannot, the QPS search finding a known
// capacity within 5%, accuracy read back from LoadGen's accuracy log, the QSL loading only what
// LoadGen asks (performance_sample_count) and dropping it after, and bad settings refused in one
// line. Runs are short (about a second each); the CLI end to end is tests/loadgen/run_loadgen.sh.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "data/pipeline.h"
#include "data/source.h"
#include "io/npy.h"
#include "loadgen/harness.h"
#include "loadgen/qsl.h"
#include "loadgen/sut.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

using mlperf::TestMode;
using mlperf::TestScenario;
using Clock = std::chrono::steady_clock;

// n samples of 1x4x4, sample i filled with i, labels i % 5.
std::unique_ptr<lg::SampleLibrary> make_qsl(const std::filesystem::path& dir, int64_t n,
                                            size_t performance_count) {
  std::vector<float> x(static_cast<size_t>(n * 16));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    std::fill(x.begin() + i * 16, x.begin() + (i + 1) * 16, static_cast<float>(i));
    labels[static_cast<size_t>(i)] = i % 5;
  }
  const std::string path = (dir / "s.npy").string();
  write_npy_f32(path, {n, 1, 4, 4}, x.data());
  write_npy_i64((dir / "s.labels.npy").string(), {n}, labels.data());
  SourcePtr src = open_eval_source(parse_data_spec("npy:" + path, "--data"), 4, 1);
  PipelineOptions po;
  po.image_size = 4;
  po.layout = Layout::nchw;
  Transformer tf = make_transform(*src, false, po);
  return std::make_unique<lg::SampleLibrary>(src, std::move(tf), performance_count);
}

// Answers each batch after `ms_per_batch` (wall time), with class = the sample's value % 5 when
// `right`, else that + 1: a SUT of known speed and accuracy.
class FakeBackend final : public lg::Backend {
 public:
  FakeBackend(double ms_per_batch, int64_t max_batch, bool right = true)
      : ms_(ms_per_batch), max_batch_(max_batch), right_(right) {}
  int64_t max_batch() const override { return max_batch_; }
  void run(const float* x, int64_t n, float* classes) override {
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms_));
    for (int64_t i = 0; i < n; ++i)
      classes[i] = static_cast<float>((static_cast<int>(x[i * 16]) + (right_ ? 0 : 1)) % 5);
  }

 private:
  double ms_;
  int64_t max_batch_;
  bool right_;
};

// Serves exactly `qps` samples a second, one at a time: sample k completes at
// max(its arrival, the previous completion) + 1/qps (a deterministic single server).
class PacedBackend final : public lg::Backend {
 public:
  explicit PacedBackend(double qps) : step_(std::chrono::duration<double>(1.0 / qps)) {}
  int64_t max_batch() const override { return 1; }
  void run(const float*, int64_t n, float* classes) override {
    const auto now = Clock::now();
    next_ = std::max(next_, now) + std::chrono::duration_cast<Clock::duration>(step_ * n);
    std::this_thread::sleep_until(next_);
    for (int64_t i = 0; i < n; ++i) classes[i] = 0;
  }

 private:
  std::chrono::duration<double> step_;
  Clock::time_point next_{};
};

mlperf::TestSettings quick(TestScenario s) {
  mlperf::TestSettings t;
  t.scenario = s;
  t.mode = TestMode::PerformanceOnly;
  t.min_duration_ms = 1000;
  t.max_duration_ms = 3000;
  // Enough queries for LoadGen's early-stopping estimate (p90: 64, p99: about 660).
  t.min_query_count = s == TestScenario::SingleStream ? 64 : 800;
  t.single_stream_expected_latency_ns = 1'000'000;
  t.multi_stream_expected_latency_ns = 1'000'000;
  t.multi_stream_samples_per_query = 4;
  t.server_target_latency_ns = 20'000'000;
  t.server_target_qps = 1000;
  t.offline_expected_qps = 1000;
  return t;
}

lg::TestResult run(lg::Backend& b, lg::SampleLibrary& qsl, const mlperf::TestSettings& s,
                   const std::string& dir, int64_t max_batch) {
  lg::BatchingSut sut({&b}, qsl, {max_batch, 0.0});
  return lg::run_test(sut, qsl, s, dir);
}

TEST(LoadGen, EachScenarioIsValidForASutThatMeetsItAndInvalidForOneThatCannot) {
  const auto dir = testing::test_temp_dir("lg");
  auto qsl = make_qsl(dir, 64, 0);
  for (TestScenario s : {TestScenario::SingleStream, TestScenario::MultiStream,
                         TestScenario::Server, TestScenario::Offline}) {
    SCOPED_TRACE(lg::scenario_name(s));
    const int64_t mb = s == TestScenario::Offline ? 32 : 4;
    FakeBackend fast(s == TestScenario::Offline ? 32 : 0.5, mb);  // Offline: 1000 samples/s
    const lg::TestResult ok = run(fast, *qsl, quick(s), (dir / "fast").string(), mb);
    EXPECT_TRUE(ok.valid) << ok.results.dump();
    EXPECT_GT(ok.metric, 0) << ok.metric_name;
    mlperf::TestSettings t = quick(s);
    double ms = 60;  // SingleStream/MultiStream: too slow for their query count in 3 s
    if (s == TestScenario::Server) ms = 40;  // 1000 QPS against 100 a second: the queue grows
    if (s == TestScenario::Offline) {
      ms = 0.5;  // as fast, but told to expect 10 samples/s: done before min_duration
      t.offline_expected_qps = 10;
    }
    FakeBackend slow(ms, mb);
    const lg::TestResult bad = run(slow, *qsl, t, (dir / "slow").string(), mb);
    EXPECT_FALSE(bad.valid) << bad.results.dump();
  }
}

TEST(LoadGen, QpsSearchFindsAKnownCapacityWithinFivePercent) {
  const auto dir = testing::test_temp_dir("lg");
  auto qsl = make_qsl(dir, 64, 0);
  const double capacity = 400;
  PacedBackend paced(capacity);
  lg::BatchingSut sut({&paced}, *qsl, {1, 0.0});
  mlperf::TestSettings s = quick(TestScenario::Server);
  s.min_duration_ms = 1000;
  s.max_duration_ms = 0;
  s.min_query_count = 800;
  // 30 service times. Poisson arrivals queue up before the server is full: over 800 queries the
  // p99 is 43 ms at 387.5 QPS and 74 ms at 400, so this bound puts LoadGen's wall at the
  // capacity, and a neighbour on a loaded 2-core machine adding 10-30 ms to the tail moves it by
  // less than 3%. (At 50 ms the wall sat at 388-394 and a busy CI neighbour pushed it to 375.)
  s.server_target_latency_ns = 75'000'000;
  std::string probes;  // each probe's QPS, p99 and verdict, shown when the search misses
  const double peak = lg::find_peak_qps(
      [&](double qps, int n) {
        mlperf::TestSettings t = s;
        t.server_target_qps = qps;
        return lg::run_test(sut, *qsl, t, (dir / ("probe" + std::to_string(n))).string());
      },
      200, 0.02,
      [&](const lg::Probe& p) {
        probes += std::to_string(p.qps) + " QPS: p99 " + std::to_string(p.p99_ns / 1e6) + " ms " +
                  (p.valid ? "valid" : "INVALID " + p.why) + "\n";
      });
  EXPECT_NEAR(peak, capacity, 0.05 * capacity) << probes;
}

TEST(LoadGen, AccuracyModeReadsTheClassesBackFromLoadGensLog) {
  const auto dir = testing::test_temp_dir("lg");
  auto qsl = make_qsl(dir, 50, 0);
  for (bool right : {true, false}) {
    FakeBackend b(0.1, 8, right);
    mlperf::TestSettings s = quick(TestScenario::Offline);
    s.mode = TestMode::AccuracyOnly;
    const std::string out = (dir / (right ? "right" : "wrong")).string();
    run(b, *qsl, s, out, 8);
    int64_t n = 0;
    EXPECT_DOUBLE_EQ(lg::accuracy_top1(out, *qsl, &n), right ? 100.0 : 0.0);
    EXPECT_EQ(n, 50);
  }
}

// Counts what LoadGen has loaded while the SUT runs.
class CountingBackend final : public lg::Backend {
 public:
  explicit CountingBackend(const lg::SampleLibrary& q) : q_(q) {}
  int64_t max_batch() const override { return 32; }
  void run(const float*, int64_t n, float* classes) override {
    max_loaded_ = std::max(max_loaded_, q_.loaded());
    std::fill(classes, classes + n, 0.f);
  }
  size_t max_loaded_ = 0;

 private:
  const lg::SampleLibrary& q_;
};

TEST(LoadGen, TheQslHoldsPerformanceSampleCountAndDropsItAfter) {
  const auto dir = testing::test_temp_dir("lg");
  auto qsl = make_qsl(dir, 64, 16);
  EXPECT_EQ(qsl->PerformanceSampleCount(), 16u);
  CountingBackend b(*qsl);
  run(b, *qsl, quick(TestScenario::Offline), (dir / "run").string(), 32);
  EXPECT_EQ(b.max_loaded_, 16u);
  EXPECT_EQ(qsl->loaded(), 0u);  // unloaded after the test
  EXPECT_EQ(qsl->decoded(), 16u);
  EXPECT_THROW(make_qsl(dir, 8, 16), Error);  // fewer samples than performance_sample_count
}

TEST(LoadGen, BadSettingsAreRefusedInOneLine) {
  const auto dir = testing::test_temp_dir("lg");
  EXPECT_THROW(lg::parse_scenario("Batch"), Error);
  const std::string conf = (dir / "user.conf").string();
  std::ofstream(conf)
      << "# ok\n*.Offline.min_duration = 1000\nresnet50.Offline.target_qps = fast\n";
  try {
    lg::load_settings("resnet50", TestScenario::Offline, conf);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3: value needs to be integer or double"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(lg::load_settings("resnet50", TestScenario::Offline, (dir / "none").string()),
               Error);
}

}  // namespace
}  // namespace scaledl
