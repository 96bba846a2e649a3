// status.json: the heartbeat thread and the reader.
#include "telemetry/run_status.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "telemetry/jsonl.h"

namespace scaledl {

namespace {

std::string ago(double s) {
  char buf[64];
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.0f s ago", std::max(0.0, s));
  else if (s < 7200)
    std::snprintf(buf, sizeof buf, "%.0f min ago", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.1f h ago", s / 3600);
  return buf;
}

// Fields read type-safely: status.json may come from anyone who can write the run folder.
int64_t get_int(const nlohmann::json& j, const char* k) {
  return j.contains(k) && j[k].is_number() ? j[k].get<int64_t>() : 0;
}
double get_num(const nlohmann::json& j, const char* k, double fallback) {
  return j.contains(k) && j[k].is_number() ? j[k].get<double>() : fallback;
}
std::string get_str(const nlohmann::json& j, const char* k, const char* fallback) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : fallback;
}
bool get_bool(const nlohmann::json& j, const char* k) {
  return j.contains(k) && j[k].is_boolean() && j[k].get<bool>();
}
}  // namespace

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

StatusFile::StatusFile(std::string dir, double heartbeat_s, nlohmann::json fields)
    : path_(std::move(dir) + "/status.json"),
      heartbeat_s_(heartbeat_s),
      fields_(std::move(fields)) {
  fields_["schema"] = kRunRecordSchema;
  fields_["pid"] = static_cast<int64_t>(::getpid());
  fields_["host"] = host_name();
  fields_["started_at"] = unix_now();
  fields_["heartbeat_s"] = heartbeat_s_;
  if (const char* job = std::getenv("SLURM_JOB_ID")) fields_["slurm_job_id"] = job;
  if (const char* n = std::getenv("SLURM_RESTART_COUNT"))
    fields_["slurm_restart_count"] = std::atoi(n);
  {
    std::lock_guard<std::mutex> lock(mu_);
    write("running", nlohmann::json::object());
  }
  thread_ = std::thread([this] { beat(); });
}

StatusFile::~StatusFile() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatusFile::beat() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::duration<double>(heartbeat_s_));
    if (stop_) break;
    try {
      write("running", nlohmann::json::object());
    } catch (const std::exception&) {
      // A full or vanished disk: the next beat tries again; the run itself goes on.
    }
  }
}

void StatusFile::finish(const std::string& state, const nlohmann::json& extra) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  stop_ = true;
  finished_ = true;
  cv_.notify_all();
  write(state, extra);
}

// Called with mu_ held.
void StatusFile::write(const std::string& state, const nlohmann::json& extra) {
  nlohmann::json j = fields_;
  j["state"] = state;
  j["step"] = step_.load();
  j["checkpoint_step"] = checkpoint_step_.load();
  const double now = unix_now();
  j["heartbeat_at"] = now;
  j["updated_at"] = now;
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  write_json_atomic(path_, j);
}

RunStatusView read_run_status(const std::string& dir, double now) {
  RunStatusView v;
  const std::string path = dir + "/status.json";
  std::ifstream in(path);
  if (!in) {
    v.state = "unknown";
    v.line = "no status.json (not a run folder, or a run from before status files)";
    return v;
  }
  try {
    v.record = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error("status", path + ": not JSON (" + std::string(e.what()) +
                              "); it is rewritten atomically, so something else wrote it");
  }
  const nlohmann::json& r = v.record;
  if (!r.is_object() || !r.contains("state") || !r["state"].is_string())
    throw Error("status", path + ": no \"state\" field; not a scaledl status file");
  return run_status_of(r, now, host_name());
}

RunStatusView run_status_of(const nlohmann::json& r, double now, const std::string& this_host) {
  RunStatusView v;
  v.record = r;
  if (!r.is_object() || !r.contains("state") || !r["state"].is_string()) {
    v.state = "unknown";
    v.line = "no status.json (not a run folder, or a run from before status files)";
    return v;
  }
  v.state = r["state"];
  const int64_t step = get_int(r, "step"), planned = get_int(r, "steps_planned");
  const int64_t ck = get_int(r, "checkpoint_step");
  const std::string at = "step " + std::to_string(step) + " of " + std::to_string(planned);
  const double beat = get_num(r, "heartbeat_at", 0), interval = get_num(r, "heartbeat_s", 10);
  if (v.state == "running") {
    const bool here = get_str(r, "host", "") == this_host;
    const pid_t pid = static_cast<pid_t>(get_int(r, "pid"));
    const bool gone = here && pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
    if (gone || now - beat > 3 * interval + 5) {
      v.state = "lost";
      v.line = "lost: last heartbeat " + ago(now - beat) + " at " + at +
               (gone ? " and its process is gone" : "") +
               " (killed, or its node went down); the last checkpoint is at step " +
               std::to_string(ck) + ": continue with --resume auto";
    } else {
      v.line = "running: " + at + ", heartbeat " + ago(now - beat) + " (pid " +
               std::to_string(pid) + " on " + get_str(r, "host", "?") + ")";
    }
  } else if (v.state == "completed") {
    v.line = "completed: " + at;
  } else if (v.state == "stopped") {
    v.line = "stopped by " + get_str(r, "signal", "a signal") + " at step " + std::to_string(step) +
             ", checkpoint at step " + std::to_string(ck) +
             (get_bool(r, "requeued") ? "; requeued with Slurm" : "; continue with --resume auto");
  } else if (v.state == "failed") {
    v.line = "failed at " + at + ": " + get_str(r, "error", "(no error recorded)");
  } else {
    v.line = v.state;
  }
  return v;
}

}  // namespace scaledl
