// The subcommands: each adds itself to the app and runs when chosen.
#pragma once
#include <functional>

#include <CLI/CLI.hpp>

namespace scaledl::cli {

using Runner = std::function<int()>;
// Exit codes: 0 done, 1 internal error, 2 bad input or a failed run (one line on stderr),
// 75 stopped by a signal after a checkpoint (EX_TEMPFAIL: continue with --resume auto), 130 a
// second SIGINT (no checkpoint).
constexpr int kExitStopped = 75;

// Each returns the function that runs the subcommand once parsing is done.
Runner add_train(CLI::App& app);
Runner add_eval(CLI::App& app);
Runner add_models(CLI::App& app);
Runner add_info(CLI::App& app);
Runner add_data(CLI::App& app);
Runner add_comm(CLI::App& app);
Runner add_infer(CLI::App& app);
Runner add_status(CLI::App& app);
Runner add_profile(CLI::App& app);
Runner add_doctor(CLI::App& app);
Runner add_export(CLI::App& app);
Runner add_loadgen(CLI::App& app);
Runner add_submit(CLI::App& app);
Runner add_jobs(CLI::App& app);
Runner add_study(CLI::App& app);
Runner add_cluster_plan(CLI::App& app);  // scaledl plan (data_cmd.cc has its own add_plan)
Runner add_portal(CLI::App& app);
// The nvprof-style tables of RUN_DIR's trace of `rank`, at most `top` layers (0: all).
std::string profile_report(const std::string& run_dir, int rank, size_t top);

// `scaledl submit ... -- FLAGS`: the first "--" kept for submit, which passes every word after
// it to the job (CLI11 would read them as positionals).
std::vector<std::string> protect_job_flags(std::vector<std::string> args);

// "runs/NAME-YYYYmmdd-HHMMSS": where a run's files go when --run-dir is not given.
std::string default_run_dir(const std::string& name);

// Expands "--config FILE" (JSON object of flag names to values) in args into flags placed
// before the user's own, so flags given on the command line override the file.
std::vector<std::string> expand_config(CLI::App& app, const std::vector<std::string>& args);

}  // namespace scaledl::cli
