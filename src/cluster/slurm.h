// Slurm as its users see it: a scaledl job rendered from a template in deploy/slurm/ into an
// sbatch script, submitted with sbatch, and the user's jobs read back from squeue and sacct,
// each with the run folder it writes (the job's working directory).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scaledl::cluster {

enum class JobKind { train, infer, loadgen };
JobKind parse_job_kind(const std::string& s);  // "train" | "infer" | "loadgen", else Error
const char* job_kind_name(JobKind k);

// The name of this process's effective user.
std::string current_user();

// What to run and on what. `args` are the subcommand's own flags, passed through unchanged.
struct JobSpec {
  JobKind kind = JobKind::train;
  std::vector<std::string> args;
  int nodes = 1;
  int ntasks_per_node = 1;
  int gpus_per_node = 0;          // 0: no --gpus-per-node line (gres)
  int cpus_per_task = 0;          // 0: Slurm's default (one per task)
  std::string mem;                // sbatch --mem (e.g. "4G"); empty: the partition's default
  std::string partition;          // empty: the cluster's default partition
  std::string time;               // sbatch --time (e.g. "10", "01:00:00"); empty: partition default
  std::string job_name;           // empty: scaledl-<kind>
  std::string run_dir;            // the run folder (made absolute); the job's working directory
  std::string binary;             // the scaledl the job runs (absolute); empty: this process's own
  std::string srun_mpi = "pmix";  // srun --mpi
  std::string as_user;  // submit as this user (only root may; via runuser); empty: ourselves
};

struct Submitted {
  std::string job_id;
  std::string run_dir;  // absolute
  std::string script;   // RUN_DIR/job.sbatch
  std::string log;      // RUN_DIR/slurm-<job id>.out
};

// The template for a kind: deploy/slurm/<kind>.sbatch.in, found beside the binary's install
// (../share/scaledl/slurm, ../../deploy/slurm from build/) or in $SCALEDL_DEPLOY_DIR/slurm.
std::string find_template(JobKind kind);
// The sbatch script for `spec` from `template_text` ({{NAME}} placeholders; see the template).
std::string render_sbatch(const JobSpec& spec, const std::string& template_text);
// Writes RUN_DIR/job.sbatch and RUN_DIR/job.json, runs `sbatch --parsable`, returns the job id.
// Throws Error with sbatch's own message when it refuses.
Submitted submit(JobSpec spec);

// One job as squeue or sacct reports it.
struct JobInfo {
  std::string id, name, user, state, partition, nodes, elapsed, time_limit, submit_time, exit_code,
      reason;
  std::string run_dir;  // the job's working directory ("" when unknown)
  std::string log;      // its output file when known (RUN_DIR/slurm-<id>.out for our jobs)
};
// The job as JSON (job_id, name, user, state, partition, nodes, elapsed, time_limit,
// submit_time, exit_code, reason, run_dir, log): `scaledl jobs --json` and the portal's API.
nlohmann::json to_json(const JobInfo& j);

// The jobs of `user` ("" for every user's), newest first: squeue for those slurmctld holds,
// sacct (or sacct --completion where there is no accounting storage) for those it has let go.
std::vector<JobInfo> list_jobs(const std::string& user);

}  // namespace scaledl::cluster
