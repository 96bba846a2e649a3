// The trace hook: tracing on from the run's start to its end, a span per step around what the
// step recorded, the rank's file in the run folder and its path in the summary.
#include "train/trace_hook.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/trace.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

TEST(TraceHook, RecordsTheRunAndWritesTheRanksFile) {
  const auto dir = testing::test_temp_dir("trace_hook");
  TrainConfig cfg;
  cfg.run_dir = dir.string();
  EXPECT_EQ(trace_path(cfg.run_dir, 0), cfg.run_dir + "/trace.json");
  EXPECT_EQ(trace_path(cfg.run_dir, 2), cfg.run_dir + "/trace.rank2.json");
  trace_enable(true);
  { TraceSpan before("before the run", "test"); }  // forgotten at the run's start
  trace_enable(false);
  auto hook = trace_hook(cfg, 2);
  RunFacts facts;
  facts.config = &cfg;
  hook->run_start(facts);
  EXPECT_TRUE(trace_enabled());
  for (int64_t step = 0; step < 2; ++step) {
    hook->step_start(step);
    { TraceSpan work("forward", "phase"); }
    StepRecord rec;
    rec.step = step + 1;
    hook->step_end(rec);
  }
  nlohmann::json summary = {{"status", "completed"}};
  hook->run_end(summary);
  EXPECT_FALSE(trace_enabled());
  EXPECT_EQ(summary["trace"], cfg.run_dir + "/trace.rank2.json");

  const nlohmann::json j = read_json(dir / "trace.rank2.json");
  std::vector<std::string> names;
  int64_t step_end = -1;
  for (const nlohmann::json& e : j["traceEvents"]) {
    EXPECT_EQ(e["pid"], 2);
    if (e["ph"] == "M" && e["name"] == "process_name") {
      EXPECT_EQ(e["args"]["name"], "rank 2");
    }
    if (e["ph"] == "M" && e["name"] == "thread_name") {
      EXPECT_EQ(e["args"]["name"], "train");
    }
    if (e["ph"] != "X") continue;
    names.push_back(e["name"]);
    const int64_t ts = e["ts"], end = ts + e["dur"].get<int64_t>();
    if (e["cat"] == "step") {
      EXPECT_EQ(e["args"]["step"], names.size() == 1 ? 0 : 1);
      step_end = end;
    } else {
      EXPECT_LE(end, step_end) << "the phase lies inside its step";
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"step 0", "forward", "step 1", "forward"}));
  std::filesystem::remove_all(dir);
}

TEST(TraceHook, AHookThatGoesAwayTurnsTracingOff) {
  TrainConfig cfg;
  cfg.run_dir = testing::test_temp_dir("trace_hook").string();
  {
    auto hook = trace_hook(cfg, 0);
    hook->run_start(RunFacts{});
    EXPECT_TRUE(trace_enabled());
  }  // a failed run: no run_end
  EXPECT_FALSE(trace_enabled());
  EXPECT_FALSE(std::filesystem::exists(cfg.run_dir + "/trace.json"));
  trace_clear();
  std::filesystem::remove_all(cfg.run_dir);
}

}  // namespace
}  // namespace scaledl
