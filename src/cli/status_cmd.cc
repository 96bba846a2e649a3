// scaledl status RUN_DIR...: how each run stands (running, lost, completed, stopped, failed),
// from its status.json and heartbeat.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "telemetry/run_status.h"

namespace scaledl::cli {

Runner add_status(CLI::App& app) {
  struct Opts {
    std::vector<std::string> dirs;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand(
      "status", "How runs stand: running, lost (no heartbeat), completed, stopped or failed");
  c->add_option("run_dirs", o->dirs, "Run folders")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_flag("--json", o->json, "One JSON object per folder: state, line and status.json");
  return [o] {
    const double now = unix_now();
    for (const std::string& dir : o->dirs) {
      const RunStatusView v = read_run_status(dir, now);
      if (o->json)
        std::printf(
            "%s\n",
            nlohmann::json{
                {"run_dir", dir}, {"state", v.state}, {"line", v.line}, {"status", v.record}}
                .dump()
                .c_str());
      else
        std::printf("%s: %s\n", dir.c_str(), v.line.c_str());
    }
    return 0;
  };
}

}  // namespace scaledl::cli
