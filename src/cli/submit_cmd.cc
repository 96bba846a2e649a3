// scaledl submit train|infer|loadgen [resources] [flags of the subcommand]: the run as a Slurm
// batch job from deploy/slurm/<kind>.sbatch.in; prints the job id and the run folder.
// scaledl jobs: the user's Slurm jobs with their run folders and logs.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cluster/slurm.h"
#include "core/error.h"

namespace scaledl::cli {
namespace {

// The value of `flag` among the subcommand's flags ("--model x" or "--model=x"), else "".
std::string flag_value(const std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind(flag + "=", 0) == 0) return args[i].substr(flag.size() + 1);
  }
  return "";
}

bool finished(const std::string& state) {
  return state != "PENDING" && state != "RUNNING" && state != "CONFIGURING" &&
         state != "COMPLETING" && state != "REQUEUED" && state != "SUSPENDED" &&
         state != "RESIZING" && state != "REQUEUE_HOLD" && state != "REQUEUE_FED" &&
         state != "SIGNALING" && state != "STAGE_OUT";
}

// Waits for the job to end; prints each state it passes; exit code 0 for COMPLETED, else 2.
int wait_for(const std::string& id, const std::string& log) {
  constexpr int kPollS = 2, kMissingPolls = 30;  // a job no list shows for a minute is gone
  std::string last;
  for (int missing = 0;; ++missing) {
    for (const auto& j : cluster::list_jobs(""))
      if (j.id == id) {
        missing = -1;
        if (j.state == last) break;
        last = j.state;
        std::fprintf(stderr, "scaledl submit: job %s %s%s\n", id.c_str(), last.c_str(),
                     j.exit_code.empty() ? "" : (" (exit " + j.exit_code + ")").c_str());
        break;
      }
    if (!last.empty() && finished(last)) return last == "COMPLETED" ? 0 : 2;
    if (missing >= kMissingPolls)
      throw Error("submit", "job " + id + " is no longer listed by squeue or sacct" +
                                (last.empty() ? "" : " (last seen " + last + ")") +
                                "; its output is in " + log);
    std::this_thread::sleep_for(std::chrono::seconds(kPollS));
  }
}

// What "--" becomes on a submit command line before parsing: an unknown flag, so that CLI11
// hands it and every word after it to take_own_flags as they are.
constexpr const char* kJobFlagsMarker = "--scaledl-submit-job-flags-follow";

struct SubmitOpts {
  cluster::JobSpec spec;
  std::string kind;
  bool json = false, wait = false;
};

// submit's own flags; on the subcommand (for --help and flags before the job's) and on a
// second parser for those that come after the job's flags.
void add_submit_flags(CLI::App* c, SubmitOpts& o) {
  c->add_option("--nodes", o.spec.nodes, "Nodes (sbatch --nodes)")->check(CLI::PositiveNumber);
  c->add_option("--ntasks-per-node", o.spec.ntasks_per_node, "Ranks per node")
      ->check(CLI::PositiveNumber);
  c->add_option("--gpus-per-node", o.spec.gpus_per_node, "GPUs per node (gres); one rank each")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--cpus-per-task", o.spec.cpus_per_task, "Cores per rank (0: Slurm's default)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--mem", o.spec.mem, "Memory per node (sbatch --mem, e.g. 16G)");
  c->add_option("--partition", o.spec.partition, "Partition (default: the cluster's)");
  c->add_option("--time", o.spec.time, "Time limit (sbatch --time: minutes, or HH:MM:SS)");
  c->add_option("--job-name", o.spec.job_name, "Job name (default scaledl-KIND)");
  c->add_option("--run-dir", o.spec.run_dir,
                "Run folder, the job's working directory (default runs/KIND-MODEL-TIME)");
  c->add_option("--srun-mpi", o.spec.srun_mpi, "srun's --mpi (pmix; none for one rank)");
  c->add_option("--binary", o.spec.binary, "The scaledl the job runs (default: this one)");
  c->add_option("--as-user", o.spec.as_user,
                "Submit for this user, who owns the run folder (root only; via runuser)");
  c->add_flag("--wait", o.wait, "Wait for the job to end; exit 0 when it COMPLETED, else 2");
  c->add_flag("--json", o.json, "Print {job_id, run_dir, script, log} as JSON");
}

// Splits the words after the first flag submit does not know into submit's own flags (with
// their values) and the job's; after "--" every word is the job's. Parses submit's.
std::vector<std::string> take_own_flags(const std::vector<std::string>& words, SubmitOpts& o) {
  CLI::App own{"scaledl submit"};
  own.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_submit_flags(&own, o);
  std::vector<std::string> mine, job;
  bool rest = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (rest || w == "--" || w == kJobFlagsMarker) {
      if (rest) job.push_back(w);
      rest = true;
      continue;
    }
    const std::string name = w.substr(0, w.find('='));
    const CLI::Option* opt = name.rfind("--", 0) == 0 ? own.get_option_no_throw(name) : nullptr;
    if (!opt) {
      job.push_back(w);
      continue;
    }
    mine.push_back(w);
    if (opt->get_type_size() != 0 && w.find('=') == std::string::npos && i + 1 < words.size())
      mine.push_back(words[++i]);
  }
  if (!mine.empty()) {
    std::vector<std::string> reversed(mine.rbegin(), mine.rend());
    own.parse(reversed);
  }
  return job;
}

}  // namespace

std::vector<std::string> protect_job_flags(std::vector<std::string> args) {
  if (args.empty() || args[0] != "submit") return args;
  for (auto& a : args)
    if (a == "--") {
      a = kJobFlagsMarker;
      break;
    }
  return args;
}

Runner add_submit(CLI::App& app) {
  auto o = std::make_shared<SubmitOpts>();
  CLI::App* c = app.add_subcommand(
      "submit",
      "Run train, infer or loadgen as a Slurm batch job (srun --mpi=pmix, one rank per GPU or "
      "core set); the flags scaledl submit does not know go to the subcommand ('--' ends "
      "submit's own)");
  c->prefix_command();  // the first flag submit does not know and all after: take_own_flags
  c->add_option("kind", o->kind, "train, infer or loadgen")
      ->required()
      ->check(CLI::IsMember({"train", "infer", "loadgen"}));
  add_submit_flags(c, *o);
  return [o, c] {
    o->spec.kind = cluster::parse_job_kind(o->kind);
    o->spec.args = take_own_flags(c->remaining(), *o);
    if (o->spec.run_dir.empty()) {
      const std::string model = flag_value(o->spec.args, "--model");
      o->spec.run_dir = default_run_dir(o->kind + (model.empty() ? "" : "-" + model));
    }
    const cluster::Submitted s = cluster::submit(o->spec);
    if (o->json)
      std::printf(
          "%s\n",
          nlohmann::json{
              {"job_id", s.job_id}, {"run_dir", s.run_dir}, {"script", s.script}, {"log", s.log}}
              .dump()
              .c_str());
    else
      std::printf(
          "submitted job %s: run folder %s\n  log %s\n  follow: scaledl jobs; scaledl status %s\n",
          s.job_id.c_str(), s.run_dir.c_str(), s.log.c_str(), s.run_dir.c_str());
    std::fflush(stdout);
    return o->wait ? wait_for(s.job_id, s.log) : 0;
  };
}

Runner add_jobs(CLI::App& app) {
  struct Opts {
    std::string user;
    bool all = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand(
      "jobs", "Your Slurm jobs (queued, running and finished) with their run folders and logs");
  c->add_option("--user", o->user, "Whose jobs (default: yours)");
  c->add_flag("--all", o->all, "Every user's jobs");
  c->add_flag("--json", o->json, "One JSON object per job");
  return [o] {
    std::string user = o->user;
    if (user.empty() && !o->all) user = cluster::current_user();
    const auto jobs = cluster::list_jobs(o->all ? "" : user);
    if (o->json) {
      for (const auto& j : jobs) std::printf("%s\n", cluster::to_json(j).dump().c_str());
      return 0;
    }
    if (jobs.empty()) {
      std::printf("no jobs%s\n", o->all ? "" : (" of " + user).c_str());
      return 0;
    }
    std::printf("%-10s %-10s %-16s %-11s %10s  %s\n", "JOBID", "USER", "NAME", "STATE", "ELAPSED",
                "RUN FOLDER / LOG");
    for (const auto& j : jobs) {
      std::string where = j.run_dir.empty() ? "-" : j.run_dir;
      if (!j.log.empty() && j.state != "COMPLETED" && j.state != "RUNNING" && j.state != "PENDING")
        where += "  log " + j.log;
      if (!j.exit_code.empty() && j.exit_code != "0:0") where += "  exit " + j.exit_code;
      if (!j.reason.empty() && j.state == "PENDING") where += "  (" + j.reason + ")";
      std::printf("%-10s %-10s %-16s %-11s %10s  %s\n", j.id.c_str(), j.user.c_str(),
                  j.name.substr(0, 16).c_str(), j.state.c_str(), j.elapsed.c_str(), where.c_str());
    }
    return 0;
  };
}

}  // namespace scaledl::cli
