// status.json: the writer's heartbeat and final states, and what a reader makes of them: a run
// whose heartbeat is stale, or whose process is gone, reads as lost, never as running.
#include "telemetry/run_status.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "telemetry/jsonl.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

TEST(RunStatus, HeartbeatKeepsTheRecordCurrentAndFinishWritesTheState) {
  const auto dir = testing::test_temp_dir("status");
  {
    StatusFile s(dir.string(), 0.05, {{"steps_planned", 100}});
    s.progress(7);
    const double first = read_json(dir / "status.json")["heartbeat_at"];
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const nlohmann::json j = read_json(dir / "status.json");
    EXPECT_EQ(j["state"], "running");
    EXPECT_EQ(j["step"], 7);
    EXPECT_EQ(j["steps_planned"], 100);
    EXPECT_EQ(j["pid"], getpid());
    EXPECT_GT(j["heartbeat_at"].get<double>(), first + 0.1);
    EXPECT_EQ(read_run_status(dir.string(), unix_now()).state, "running");
    s.checkpointed(7);
    s.finish("stopped", {{"signal", "SIGTERM"}});
    std::this_thread::sleep_for(std::chrono::milliseconds(150));  // no beat overwrites it
  }
  const RunStatusView v = read_run_status(dir.string(), unix_now());
  EXPECT_EQ(v.state, "stopped");
  EXPECT_EQ(v.line,
            "stopped by SIGTERM at step 7, checkpoint at step 7; continue with --resume auto");
}

TEST(RunStatus, TheFirstFinishWinsSoALaterFailureKeepsAStopsRecord) {
  const auto dir = testing::test_temp_dir("status");
  StatusFile s(dir.string(), 10, {{"steps_planned", 10}});
  s.progress(4);
  EXPECT_FALSE(s.finished());
  s.finish("stopped", {{"signal", "SIGTERM"}});
  EXPECT_TRUE(s.finished());
  s.finish("failed", {{"error", "[dist] a barrier timed out"}});
  const nlohmann::json j = read_json(dir / "status.json");
  EXPECT_EQ(j["state"], "stopped");
  EXPECT_FALSE(j.contains("error"));
}

TEST(RunStatus, StaleHeartbeatOrGoneProcessReadsAsLost) {
  const auto dir = testing::test_temp_dir("status");
  nlohmann::json rec = {{"schema", 1},
                        {"state", "running"},
                        {"step", 40},
                        {"steps_planned", 100},
                        {"checkpoint_step", 25},
                        {"pid", getpid()},
                        {"host", "another-node"},
                        {"heartbeat_s", 10.0}};
  const double now = 1.0e9;
  rec["heartbeat_at"] = now - 34;  // within 3 intervals + 5 s
  write_json_atomic((dir / "status.json").string(), rec);
  EXPECT_EQ(read_run_status(dir.string(), now).state, "running");
  rec["heartbeat_at"] = now - 36;
  write_json_atomic((dir / "status.json").string(), rec);
  const RunStatusView stale = read_run_status(dir.string(), now);
  EXPECT_EQ(stale.state, "lost");
  EXPECT_NE(stale.line.find("checkpoint is at step 25"), std::string::npos) << stale.line;

  // On this host, a dead pid is lost at once, however fresh its last heartbeat.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);
  rec["host"] = host;
  rec["pid"] = child;
  rec["heartbeat_at"] = now;
  write_json_atomic((dir / "status.json").string(), rec);
  EXPECT_EQ(read_run_status(dir.string(), now).state, "lost");
  rec["pid"] = getpid();
  write_json_atomic((dir / "status.json").string(), rec);
  EXPECT_EQ(read_run_status(dir.string(), now).state, "running");
}

TEST(RunStatus, FailedUnknownAndCorrupt) {
  const auto dir = testing::test_temp_dir("status");
  EXPECT_EQ(read_run_status(dir.string(), unix_now()).state, "unknown");
  write_json_atomic((dir / "status.json").string(), {{"state", "failed"},
                                                     {"step", 3},
                                                     {"steps_planned", 9},
                                                     {"error", "[train] loss is nan at step 3"}});
  EXPECT_EQ(read_run_status(dir.string(), unix_now()).line,
            "failed at step 3 of 9: [train] loss is nan at step 3");
  std::ofstream(dir / "status.json") << "{\"state\": ";
  EXPECT_THROW(read_run_status(dir.string(), unix_now()), Error);
}

}  // namespace
}  // namespace scaledl
