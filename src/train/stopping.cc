// Requeue under Slurm; the records of a failed run.
#include "train/stopping.h"

#include <sys/wait.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "telemetry/jsonl.h"

namespace scaledl {

std::string requeue_slurm_job() {
  const char* job = std::getenv("SLURM_JOB_ID");
  if (!job || !*job) return "SLURM_JOB_ID is not set (not a Slurm job)";
  for (const char* c = job; *c; ++c)
    if (!std::isdigit(static_cast<unsigned char>(*c)))
      return std::string("SLURM_JOB_ID '") + job + "' is not a job number";
  // Slurm sends the job SIGTERM moments after the requeue: scontrol ignores it so that it can
  // still report (an ignored signal stays ignored across exec).
  const std::string cmd = std::string("trap '' TERM; exec scontrol requeue ") + job + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "cannot run scontrol";
  std::string out;
  std::array<char, 512> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int rc = ::pclose(p);
  if (rc == 0) return "";
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return "scontrol requeue " + std::string(job) + " failed (" +
         (WIFEXITED(rc) ? "exit code " + std::to_string(WEXITSTATUS(rc)) : "no exit code") +
         (out.empty() ? "" : ": " + out) + ")";
}

void record_failure(const TrainConfig& cfg, StatusFile& status, const std::string& error) {
  if (status.finished()) return;  // the run's own end is recorded: a later failure keeps it
  status.finish("failed", {{"error", error}});
  write_json_atomic(cfg.run_dir + "/summary.json", {{"schema", kRunRecordSchema},
                                                    {"status", "failed"},
                                                    {"error", error},
                                                    {"model", cfg.model},
                                                    {"data", cfg.data},
                                                    {"steps", status.step()},
                                                    {"top1", nullptr},
                                                    {"top5", nullptr},
                                                    {"config", cfg.to_json()}});
}

}  // namespace scaledl
