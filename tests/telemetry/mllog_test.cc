// The MLPerf training log: lines encoded exactly as MLCommons' MLLogger encodes them (checked by
// its own encoder), and whole ResNet-50 runs (sgd and lars) logged through the helpers that the
// real compliance checker (mlperf-logging 4.1.68, training 4.0.0) passes, and broken ones it fails.
#include "telemetry/mllog.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "cli/run_cli.h"
#include "core/error.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

ordered_json parse_line(const std::string& line) {
  const std::string token = ":::MLLOG ";
  EXPECT_EQ(line.rfind(token, 0), 0u) << line;
  return ordered_json::parse(line.substr(token.size()));
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The checkers' venv that scripts/checkers_venv makes (.ci/run makes it before the tests).
std::string checkers_python() {
  return std::string(SCALEDL_SOURCE_DIR) + "/.venv-checkers/bin/python";
}
bool have_checkers() {
  return std::filesystem::exists(checkers_python());
}
#define SKIP_WITHOUT_CHECKERS()                                                     \
  if (!have_checkers())                                                             \
  GTEST_SKIP() << "no " << checkers_python()                                        \
               << ": run scripts/checkers_venv to make the venv of mlperf-logging " \
                  "4.1.68 that this test reads the log with"

// python -m mlperf_logging.compliance_checker --usage training --ruleset 4.0.0 FILE, stdout and
// stderr together.
testing::CliResult run_checker(const std::filesystem::path& file) {
  return testing::run_command(checkers_python() +
                              " -m mlperf_logging.compliance_checker --usage training"
                              " --ruleset 4.0.0 --log_output " +
                              (file.parent_path() / "checker_output.log").string() + " " +
                              file.string() + " 2>&1");
}

MlRunInfo sgd_info() {
  MlRunInfo info;
  info.org = "scaledl";
  info.platform = "1xH200";
  info.global_batch_size = 3264;
  info.train_samples = 1281167;
  info.eval_samples = 50000;
  info.seed = 42;
  info.optimizer = MlOptimizer::kSgd;
  info.base_lr = 12.75;  // a multiple of 0.001
  info.end_lr = 0.0001;
  info.poly_power = 2;
  info.warmup_epochs = 5;
  info.decay_steps = 33 * 393;  // 393 steps per epoch at 3264
  info.momentum = 0.9;
  info.weight_decay = 5e-5;  // 0.0001 * 2^-1
  info.bn_span = 102;
  return info;
}

MlRunInfo lars_info() {
  MlRunInfo info = sgd_info();
  info.optimizer = MlOptimizer::kLars;
  info.base_lr = 10.5;
  info.warmup_epochs = 2;
  info.decay_steps = 14523;
  info.lars_epsilon = 0;
  return info;
}

// A short ResNet-50 run: blocks of two epochs, an eval after each with the given accuracies,
// then run_stop. Without `run_started`, init_stop and run_start are missing.
void write_run(const std::filesystem::path& path, const MlRunInfo& info,
               const std::vector<double>& accuracies, MlRunStatus status, bool run_started = true) {
  MlLog log(path.string());
  log_init(log, info);
  if (run_started) log_run_start(log);
  int64_t epoch = 1;
  for (double accuracy : accuracies) {
    const int64_t first = epoch, count = 2;
    log_block_start(log, first, count);
    for (; epoch < first + count; ++epoch) {
      log_epoch_start(log, epoch);
      log_epoch_stop(log, epoch);
    }
    log_block_stop(log, first);
    log_eval_start(log, epoch - 1);
    log_eval_accuracy(log, accuracy, epoch - 1);
    log_eval_stop(log, epoch - 1);
  }
  log_run_stop(log, status);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(MlLog, LineHasTheFieldsAndTypesOfMlLogger) {
  const auto dir = testing::test_temp_dir("mllog");
  const int64_t before = now_ms();
  int call_line = 0;
  {
    MlLog log((dir / "log.txt").string());
    // clang-format off
    call_line = __LINE__; log.point("eval_accuracy", 0.7612, {{"epoch_num", 38}});
    // clang-format on
    log.start("block_start", nullptr, {{"first_epoch_num", 1}, {"epoch_count", 4}});
    log.end("run_stop", nullptr, {{"status", "success"}});
  }
  const int64_t after = now_ms();
  const auto lines = read_lines(dir / "log.txt");
  ASSERT_EQ(lines.size(), 3u);
  const std::vector<std::string> want_keys = {"namespace", "time_ms", "event_type",
                                              "key",       "value",   "metadata"};
  const char* want_events[] = {"POINT_IN_TIME", "INTERVAL_START", "INTERVAL_END"};
  for (size_t i = 0; i < lines.size(); ++i) {
    const ordered_json j = parse_line(lines[i]);
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    EXPECT_EQ(keys, want_keys) << lines[i];
    EXPECT_EQ(j["namespace"], "");
    ASSERT_TRUE(j["time_ms"].is_number_integer());
    EXPECT_GE(j["time_ms"].get<int64_t>(), before);
    EXPECT_LE(j["time_ms"].get<int64_t>(), after);
    EXPECT_EQ(j["event_type"], want_events[i]);
    ASSERT_TRUE(j["metadata"].is_object());
    const auto meta = j["metadata"].begin();
    EXPECT_EQ(meta.key(), "file");
    EXPECT_TRUE(meta.value().get<std::string>().ends_with("tests/telemetry/mllog_test.cc"));
    EXPECT_EQ(std::next(meta).key(), "lineno");
    EXPECT_TRUE(std::next(meta).value().is_number_integer());
  }
  const ordered_json first = parse_line(lines[0]);
  EXPECT_EQ(first["key"], "eval_accuracy");
  EXPECT_TRUE(first["value"].is_number_float());
  EXPECT_DOUBLE_EQ(first["value"].get<double>(), 0.7612);
  EXPECT_EQ(first["metadata"]["lineno"], call_line);
  EXPECT_EQ(first["metadata"]["epoch_num"], 38);
  const ordered_json second = parse_line(lines[1]);
  EXPECT_TRUE(second["value"].is_null());
  EXPECT_EQ(second["metadata"]["first_epoch_num"], 1);
  EXPECT_EQ(second["metadata"]["epoch_count"], 4);
  EXPECT_EQ(parse_line(lines[2])["metadata"]["status"], "success");
}

TEST(MlLog, EncodesAsPythonJsonDumps) {
  EXPECT_EQ(mllog_line("", 1234, "POINT_IN_TIME", "eval_accuracy", 0.7591, {{"epoch_num", 38}}),
            ":::MLLOG {\"namespace\": \"\", \"time_ms\": 1234, \"event_type\": \"POINT_IN_TIME\", "
            "\"key\": \"eval_accuracy\", \"value\": 0.7591, \"metadata\": {\"epoch_num\": 38}}");
  auto value_text = [](const json& v) {
    const std::string line = mllog_line("", 0, "POINT_IN_TIME", "k", v, json::object());
    const std::string from = "\"value\": ", to = ", \"metadata\"";
    const size_t a = line.find(from) + from.size();
    return line.substr(a, line.find(to) - a);
  };
  // Python's repr of a float: shortest round trip, fixed for exponents in [-4, 16).
  EXPECT_EQ(value_text(5e-05), "5e-05");
  EXPECT_EQ(value_text(0.0001), "0.0001");
  EXPECT_EQ(value_text(2.0), "2.0");
  EXPECT_EQ(value_text(-0.0), "-0.0");
  EXPECT_EQ(value_text(1e15), "1000000000000000.0");
  EXPECT_EQ(value_text(1e16), "1e+16");
  EXPECT_EQ(value_text(1.5e-300), "1.5e-300");
  EXPECT_EQ(value_text(12.75), "12.75");
  EXPECT_EQ(value_text(std::nan("")), "NaN");
  EXPECT_EQ(value_text(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(value_text(int64_t{1281167}), "1281167");
  EXPECT_EQ(value_text(true), "true");
  EXPECT_EQ(value_text(nullptr), "null");
  EXPECT_EQ(value_text("a\"\\\n\x7f\xc3\xa9"), "\"a\\\"\\\\\\n\\u007f\\u00e9\"");
  EXPECT_EQ(value_text(json::parse("[1, {\"b\": [2.5, \"x\"]}]")), "[1, {\"b\": [2.5, \"x\"]}]");
}

TEST(MlLog, EachLineIsOnDiskOnceWritten) {
  const auto dir = testing::test_temp_dir("mllog");
  MlLog log((dir / "log.txt").string());
  log.point("cache_clear", true);
  ASSERT_EQ(read_lines(dir / "log.txt").size(), 1u);
  log.start("init_start");
  EXPECT_EQ(read_lines(dir / "log.txt").size(), 2u);
  MlLog again((dir / "log.txt").string(), /*append=*/true);
  again.end("init_stop");
  EXPECT_EQ(read_lines(dir / "log.txt").size(), 3u);
  MlLog fresh((dir / "log.txt").string());
  EXPECT_EQ(read_lines(dir / "log.txt").size(), 0u);
}

TEST(MlLog, UnwritablePathIsAnErrorNamingIt) {
  const auto dir = testing::test_temp_dir("mllog");
  const std::string path = (dir / "no_such_folder" / "mllog.txt").string();
  try {
    MlLog log(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "mllog");
    EXPECT_TRUE(contains(e.message(), path)) << e.what();
  }
  MlLog closed;  // a rank that does not log drops every event
  EXPECT_FALSE(closed.is_open());
  EXPECT_NO_THROW(log_run_header(closed, lars_info()));
}

TEST(MlLog, RunHeaderKeysInTheOrderOfTheRules) {
  const auto dir = testing::test_temp_dir("mllog");
  {
    MlLog log((dir / "log.txt").string());
    log_run_header(log, lars_info());
  }
  std::vector<std::string> keys;
  for (const auto& line : read_lines(dir / "log.txt"))
    keys.push_back(parse_line(line)["key"].get<std::string>());
  const std::vector<std::string> want = {"cache_clear",
                                         "init_start",
                                         "submission_benchmark",
                                         "submission_org",
                                         "submission_division",
                                         "submission_status",
                                         "submission_platform",
                                         "global_batch_size",
                                         "opt_name",
                                         "gradient_accumulation_steps",
                                         "lars_opt_base_learning_rate",
                                         "lars_opt_end_learning_rate",
                                         "lars_opt_learning_rate_decay_poly_power",
                                         "lars_opt_learning_rate_decay_steps",
                                         "lars_epsilon",
                                         "lars_opt_learning_rate_warmup_epochs",
                                         "lars_opt_momentum",
                                         "lars_opt_weight_decay",
                                         "model_bn_span",
                                         "train_samples",
                                         "eval_samples",
                                         "seed",
                                         "init_stop",
                                         "run_start"};
  EXPECT_EQ(keys, want);
}

TEST(MlLog, ClosedDivisionValuesTheCheckerWouldRejectAreErrors) {
  auto expect_error = [](MlRunInfo info, const std::string& needle) {
    try {
      check_ml_run_info(info);
      ADD_FAILURE() << "expected an error about " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.component(), "mllog");
      EXPECT_TRUE(contains(e.message(), needle)) << e.what();
    }
    info.division = MlDivision::kOpen;  // the open division leaves hyperparameters free
    if (!info.org.empty() && info.global_batch_size > 0) {
      EXPECT_NO_THROW(check_ml_run_info(info));
    }
  };
  EXPECT_NO_THROW(check_ml_run_info(sgd_info()));
  EXPECT_NO_THROW(check_ml_run_info(lars_info()));
  MlRunInfo i = sgd_info();
  i.base_lr = 1.2345;
  expect_error(i, "not a multiple of 0.001");
  i = sgd_info();
  i.end_lr = 0.001;
  expect_error(i, "end learning rate 0.001 is not 0.0001");
  i = lars_info();
  i.weight_decay = 3e-5;
  expect_error(i, "weight decay 3e-05 is not 0.0001 * 2^k");
  i = lars_info();
  i.poly_power = 1;
  expect_error(i, "poly power 1.0 is not 2");
  i = lars_info();
  i.lars_epsilon = 1e-9;
  expect_error(i, "lars epsilon 1e-09 is not 0");
  i = lars_info();
  i.org.clear();
  expect_error(i, "must not be empty");
  i = lars_info();
  i.global_batch_size = 0;
  expect_error(i, "global_batch_size is 0");

  EXPECT_EQ(parse_ml_optimizer("lars", "--opt"), MlOptimizer::kLars);
  EXPECT_EQ(parse_ml_submission_status("cloud", "--status"), MlSubmissionStatus::kCloud);
  try {
    parse_ml_division("closd", "--mlperf-division");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.message(),
                         "--mlperf-division: unknown division 'closd'; use one of "
                         "closed, open"))
        << e.what();
  }
}

// MLLogger's own encoder, fed the fields of each of our lines, writes the same bytes.
TEST(MlLog, MlLoggersEncoderWritesTheSameBytes) {
  SKIP_WITHOUT_CHECKERS();
  const auto dir = testing::test_temp_dir("mllog");
  {
    MlLog log((dir / "log.txt").string());
    log.point("v", 5e-05, {{"epoch_num", 1}, {"samples_count", 0}});
    log.point("v", 1e16);
    log.point("v", 1e15);
    log.point("v", -0.0);
    log.point("v", std::nan(""), {{"status", "aborted"}});
    log.point("v", std::numeric_limits<double>::infinity());
    log.point("v", 0.1 + 0.2);
    log.point("v", 1.0 / 3.0);
    log.point("v", "quote\" backslash\\ tab\t \xc3\xa9 \xf0\x9f\x98\x80 \x01");
    log.start("v", json::parse("[1, {\"a\": [true, null, 2.5]}]"));
    log.end("v", int64_t{-9007199254740993});
    log_run_header(log, sgd_info());
  }
  const auto script = dir / "roundtrip.py";
  std::ofstream(script) << R"(import json, sys
from mlperf_logging.mllog.mllog import _encode_log
n = 0
for line in open(sys.argv[1], encoding='utf-8'):
    line = line.rstrip('\n')
    d = json.loads(line[len(':::MLLOG '):])
    again = _encode_log(d['namespace'], d['time_ms'], d['event_type'], d['key'], d['value'],
                        d['metadata'])
    if again != line:
        print('DIFFERS\n ours: ' + line + '\n them: ' + again)
        sys.exit(1)
    n += 1
print('SAME', n)
)";
  const auto r = testing::run_command(checkers_python() + " " + script.string() + " " +
                                      (dir / "log.txt").string() + " 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "SAME 34")) << r.out;
}

TEST(MlLog, ComplianceCheckerPassesAnSgdRun) {
  SKIP_WITHOUT_CHECKERS();
  const auto dir = testing::test_temp_dir("mllog");
  write_run(dir / "result_0.txt", sgd_info(), {0.31, 0.55, 0.7104, 0.7602}, MlRunStatus::kSuccess);
  const auto r = run_checker(dir / "result_0.txt");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "INFO - SUCCESS")) << r.out;
  EXPECT_TRUE(contains(r.out, "Compliance checks: training_3.1.0/closed_resnet_sgd.yaml")) << r.out;
  EXPECT_FALSE(contains(r.out, "WARNING")) << r.out;
}

TEST(MlLog, ComplianceCheckerPassesALarsRun) {
  SKIP_WITHOUT_CHECKERS();
  const auto dir = testing::test_temp_dir("mllog");
  write_run(dir / "result_0.txt", lars_info(), {0.42, 0.68, 0.7555, 0.7593}, MlRunStatus::kSuccess);
  const auto r = run_checker(dir / "result_0.txt");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "INFO - SUCCESS")) << r.out;
  EXPECT_TRUE(contains(r.out, "Compliance checks: training_3.1.0/closed_resnet_lars.yaml"))
      << r.out;
  EXPECT_FALSE(contains(r.out, "WARNING")) << r.out;
}

TEST(MlLog, ComplianceCheckerFailsARunThatNeverStarted) {
  SKIP_WITHOUT_CHECKERS();
  const auto dir = testing::test_temp_dir("mllog");
  write_run(dir / "result_0.txt", lars_info(), {0.5, 0.7601}, MlRunStatus::kSuccess,
            /*run_started=*/false);
  const auto r = run_checker(dir / "result_0.txt");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "ERROR - FAILED")) << r.out;
  EXPECT_TRUE(contains(r.out, "Required EXACTLY_ONE occurrence of 'run_start' but found 0"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "CHECK for 'run_stop' failed")) << r.out;
  EXPECT_FALSE(contains(r.out, "SUCCESS")) << r.out;
}

TEST(MlLog, ComplianceCheckerFailsARunBelowTheTarget) {
  SKIP_WITHOUT_CHECKERS();
  const auto dir = testing::test_temp_dir("mllog");
  write_run(dir / "result_0.txt", sgd_info(), {0.5, 0.7, 0.7589}, MlRunStatus::kAborted);
  const auto r = run_checker(dir / "result_0.txt");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "ERROR - FAILED")) << r.out;
  EXPECT_TRUE(contains(r.out, "Failed checks for eval_accuracy : v['value'] >= 0.7590")) << r.out;
}

}  // namespace
}  // namespace scaledl
