// scaledl profile RUN_DIR: nvprof-style tables of a traced run (scaledl train --trace, or
// --profile, which traces and prints them at its end): the step's phases, op kinds and layers
// (forward and backward), the communication thread's allreduces, the loaders' decoding.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "graph/graph.h"
#include "telemetry/profile_table.h"

namespace scaledl::cli {

namespace fs = std::filesystem;

namespace {
std::string category(const nlohmann::json& e) {
  return e.value("cat", "");
}

// The op kind's name from the span's "kind" arg (the OpKind the Net recorded).
std::string kind_of(const nlohmann::json& e) {
  const std::string c = category(e);
  if (c != "forward" && c != "backward") return "";
  if (!e.contains("args") || !e["args"].contains("kind")) return c + " ?";
  const int k = e["args"]["kind"].get<int>();
  return c + " " + std::string(op_kind_name(static_cast<OpKind>(k)));
}
}  // namespace

std::string profile_report(const std::string& run_dir, int rank, size_t top) {
  const std::string path =
      run_dir + (rank == 0 ? "/trace.json" : "/trace.rank" + std::to_string(rank) + ".json");
  if (!fs::exists(path))
    throw Error("profile", path + " is missing; rerun the training with --trace (or --profile)");
  const std::vector<nlohmann::json> spans = read_trace_spans(path);
  double steps_us = 0;
  int64_t steps = 0;
  for (const nlohmann::json& e : spans)
    if (category(e) == "step") steps_us += e["dur"].get<double>(), ++steps;
  const std::string who = "rank " + std::to_string(rank) + ", " + std::to_string(steps) + " steps";
  std::string out;
  out +=
      format_profile_table("step phases (" + who + "; Time(%) of the steps' time)",
                           profile_rows(spans,
                                        [](const nlohmann::json& e) {
                                          return category(e) == "phase" ? e.value("name", "") : "";
                                        }),
                           steps_us);
  out += format_profile_table("op kinds, forward and backward (" + who + ")",
                              profile_rows(spans, kind_of));
  out += format_profile_table(
      "layers (" + who + ")",
      profile_rows(spans,
                   [](const nlohmann::json& e) {
                     const std::string c = category(e);
                     return c == "forward" || c == "backward" ? c + " " + e.value("name", "") : "";
                   }),
      0, top);
  for (const char* c : {"comm", "data"}) {
    const auto rows = profile_rows(spans, [c](const nlohmann::json& e) {
      return category(e) == c ? e.value("name", "") : "";
    });
    if (!rows.empty())
      out += format_profile_table(
          std::string(c == std::string("comm") ? "communication thread" : "loader threads") + " (" +
              who + ")",
          rows);
  }
  return out;
}

Runner add_profile(CLI::App& app) {
  struct Opts {
    std::string run_dir;
    int rank = 0;
    size_t top = 20;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand(
      "profile", "nvprof-style tables of a run traced with --trace: phases, op kinds, layers");
  c->add_option("run_dir", o->run_dir, "Run folder")->required()->check(CLI::ExistingDirectory);
  c->add_option("--rank", o->rank, "Whose trace (trace.rank<R>.json for R > 0)")
      ->capture_default_str();
  c->add_option("--top", o->top, "Layers shown (0: all)")->capture_default_str();
  return [o] {
    std::fputs(profile_report(o->run_dir, o->rank, o->top).c_str(), stdout);
    return 0;
  };
}

}  // namespace scaledl::cli
