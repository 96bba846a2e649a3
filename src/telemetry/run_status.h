// The run folder's status.json: whether a run is running, completed, stopped (by a signal, at
// which step, with which checkpoint) or failed (with its error line), written atomically and
// kept current by a heartbeat while the run goes on, so that tools and pages can tell a live run
// from one whose process is gone (a run killed by SIGKILL stops beating: it reads as "lost",
// never as running forever).
//
// status.json (schema 1): {"schema": 1, "state": "running"|"completed"|"stopped"|"failed",
//   "step", "steps_planned", "checkpoint_step", "pid", "host", "started_at", "heartbeat_at"
//   (Unix seconds), "heartbeat_s" (the interval), "updated_at", and by state: "signal",
//   "ranks_signalled", "requeued" (stopped); "error" (failed); "slurm_job_id" when under Slurm}.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace scaledl {

// Writes RUN_DIR/status.json: "running" at construction, again every `heartbeat_s` seconds from
// its own thread with the latest progress, and the final state from finish().
class StatusFile {
 public:
  // `fields`: what the record always carries (steps_planned, world size, ...).
  StatusFile(std::string dir, double heartbeat_s, nlohmann::json fields);
  ~StatusFile();  // stops the heartbeat; a run that never finished keeps "running" and goes stale
  StatusFile(const StatusFile&) = delete;
  StatusFile& operator=(const StatusFile&) = delete;

  void progress(int64_t step) { step_ = step; }
  void checkpointed(int64_t step) { checkpoint_step_ = step; }
  int64_t step() const { return step_; }
  bool finished() const {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  // Stops the heartbeat and writes `state` with `extra` merged into the record; the first call
  // wins (a later failure, say a timeout after the stop's records, cannot overwrite them).
  void finish(const std::string& state, const nlohmann::json& extra = nlohmann::json::object());

 private:
  void write(const std::string& state, const nlohmann::json& extra);
  void beat();

  std::string path_;
  double heartbeat_s_;
  nlohmann::json fields_;
  std::atomic<int64_t> step_{0}, checkpoint_step_{0};
  mutable std::mutex mu_;  // one writer of the file at a time; guards stop_
  std::condition_variable cv_;
  bool stop_ = false, finished_ = false;
  std::thread thread_;
};

// What a reader makes of a run folder's status.json at Unix time `now`.
struct RunStatusView {
  // "running", "lost" (the record says running but its heartbeat is stale or, on this host, its
  // process is gone), "completed", "stopped", "failed", or "unknown" (no status.json: a folder
  // of a run from before status files, or not a run folder).
  std::string state;
  std::string line;       // one line for a person
  nlohmann::json record;  // status.json as written (null when absent)
};
// A heartbeat is stale once it is older than three intervals plus 5 s.
RunStatusView read_run_status(const std::string& dir, double now);
// The same rule on a status.json record already read (the portal reads its files itself, without
// following links): `this_host` is where a "running" record's pid can be checked. A field of the
// wrong type reads as absent; a record without a "state" string is "unknown".
RunStatusView run_status_of(const nlohmann::json& record, double now, const std::string& this_host);

double unix_now();
// This machine's host name ("?" when it has none), as status.json and event file names carry it.
std::string host_name();

}  // namespace scaledl
