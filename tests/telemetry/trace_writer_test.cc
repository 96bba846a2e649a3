// The Chrome trace-event file: valid JSON with the fields Perfetto reads, a named track per
// thread, nested spans still nested after rounding to microseconds, parents before children.
#include "telemetry/trace_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "temp_dir.h"

namespace scaledl {
namespace {

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

TEST(TraceWriter, WritesValidChromeTraceJson) {
  const auto dir = testing::test_temp_dir("trace");
  trace_clear();
  trace_enable(true);
  set_trace_thread_name("train");
  {
    TraceSpan step("step 0", "step");
    {
      TraceSpan fwd("conv1", "forward");
      TraceSpan inner("conv1 \"quoted\"", "forward");
    }
    std::thread([] {
      set_trace_thread_name("comm");
      TraceSpan s("allreduce", "comm");
      s.arg("bytes", 4096);
    }).join();
  }
  trace_enable(false);
  const TraceData data = trace_collect();
  trace_clear();
  const auto path = dir / "trace.rank3.json";
  write_trace_json(path.string(), data, 3, "rank 3");

  const nlohmann::json j = read_json(path);
  EXPECT_EQ(j["displayTimeUnit"], "ms");
  EXPECT_EQ(j["otherData"]["events"], "4");
  EXPECT_EQ(j["otherData"]["dropped_events"], "0");
  ASSERT_TRUE(j["traceEvents"].is_array());
  std::map<int, std::string> thread_names;
  std::map<std::string, nlohmann::json> spans;
  std::vector<std::string> train_order;
  std::string process_name;
  for (const nlohmann::json& e : j["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph") && e.contains("name") && e.contains("pid") && e.contains("tid"))
        << e.dump();
    EXPECT_EQ(e["pid"], 3);
    if (e["ph"] == "M") {
      if (e["name"] == "thread_name") thread_names[e["tid"]] = e["args"]["name"];
      if (e["name"] == "process_name") process_name = e["args"]["name"];
      continue;
    }
    ASSERT_EQ(e["ph"], "X") << e.dump();
    ASSERT_TRUE(e["ts"].is_number_integer() && e["dur"].is_number_integer()) << e.dump();
    EXPECT_GE(e["dur"].get<int64_t>(), 0);
    EXPECT_TRUE(e.contains("cat"));
    EXPECT_TRUE(thread_names.count(e["tid"])) << "metadata precedes a track's spans";
    spans[e["name"]] = e;
    if (thread_names[e["tid"]] == "train") train_order.push_back(e["name"]);
  }
  EXPECT_EQ(process_name, "rank 3");
  ASSERT_EQ(spans.size(), 4u);
  const nlohmann::json &step = spans["step 0"], &fwd = spans["conv1"],
                       &inner = spans["conv1 \"quoted\""], &comm = spans["allreduce"];
  EXPECT_EQ(thread_names[step["tid"]], "train");
  EXPECT_EQ(thread_names[comm["tid"]], "comm");
  EXPECT_EQ(step["tid"], fwd["tid"]);
  EXPECT_NE(step["tid"], comm["tid"]);
  EXPECT_EQ(comm["cat"], "comm");
  EXPECT_EQ(comm["args"]["bytes"], 4096);
  EXPECT_FALSE(step.contains("args"));
  // Parents first, and intervals nested in whole microseconds.
  EXPECT_EQ(train_order, (std::vector<std::string>{"step 0", "conv1", "conv1 \"quoted\""}));
  const auto end = [](const nlohmann::json& e) {
    return e["ts"].get<int64_t>() + e["dur"].get<int64_t>();
  };
  EXPECT_LE(step["ts"], fwd["ts"]);
  EXPECT_LE(end(fwd), end(step));
  EXPECT_LE(fwd["ts"], inner["ts"]);
  EXPECT_LE(end(inner), end(fwd));
  EXPECT_LE(step["ts"], comm["ts"]);
  EXPECT_LE(end(comm), end(step));
  // Microseconds since the epoch: after 2020, before 2100.
  EXPECT_GT(step["ts"].get<int64_t>(), 1'577'836'800'000'000);
  EXPECT_LT(step["ts"].get<int64_t>(), 4'102'444'800'000'000);
  std::filesystem::remove_all(dir);
}

TEST(TraceWriter, AnEmptyTraceIsValidJson) {
  const auto dir = testing::test_temp_dir("trace");
  const auto path = dir / "trace.json";
  write_trace_json(path.string(), TraceData{}, 0, "rank 0");
  const nlohmann::json j = read_json(path);
  ASSERT_EQ(j["traceEvents"].size(), 2u);  // the process's name and sort index
  EXPECT_EQ(j["otherData"]["events"], "0");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace scaledl
