// scaledl study scaling|precision|batch|storage: runs a matrix of training runs and writes a
// report folder (report.json, report.html, figures/); see docs/studies.md.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "study/report.h"
#include "study/study.h"

namespace scaledl::cli {

Runner add_study(CLI::App& app) {
  struct Opts {
    study::StudySpec spec;
    std::string kind, launcher = "mpirun";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand(
      "study",
      "Run a matrix of training runs (ranks, precisions, batch sizes) and report images/s, "
      "speedup, efficiency, precision gains, storage and network MB/s with figures");
  c->add_option("kind", o->kind, "scaling, precision, batch or storage")
      ->required()
      ->check(CLI::IsMember({"scaling", "precision", "batch", "storage"}));
  c->add_option("--model", o->spec.model, "Model (scaledl models)")->required();
  c->add_option("--data", o->spec.data, "Training data (as scaledl train --data)")->required();
  c->add_option("--ranks", o->spec.ranks, "Rank counts, e.g. 1,2,4")->delimiter(',');
  c->add_option("--precisions", o->spec.precisions, "Precisions, e.g. fp32,bf16")->delimiter(',');
  c->add_option("--batches", o->spec.batches, "Batch sizes per rank, e.g. 16,32,64")
      ->delimiter(',');
  c->add_option("--steps", o->spec.steps, "Training steps per run")->capture_default_str();
  c->add_option("--repeats", o->spec.repeats, "Rounds (cells alternate in each; medians reported)")
      ->capture_default_str();
  c->add_option("--threads", o->spec.threads, "Compute threads per rank")->capture_default_str();
  c->add_option("--launcher", o->launcher, "mpirun (this node) or slurm (scaledl submit --wait)")
      ->capture_default_str();
  c->add_option("--ranks-per-node", o->spec.ranks_per_node,
                "slurm: ranks per node (0: all on one)");
  c->add_option("--output", o->spec.output, "Report folder (default studies/KIND-MODEL-TIME)");
  c->add_option("--binary", o->spec.binary, "The scaledl the runs use (default: this one)");
  c->add_option("train_flags", o->spec.train_args,
                "After --: more scaledl train flags for every run");
  return [o] {
    o->spec.kind = study::parse_study_kind(o->kind);
    o->spec.launcher = study::parse_launcher(o->launcher);
    if (o->spec.kind == study::StudyKind::precision && o->spec.precisions.size() < 2 &&
        o->spec.precisions == std::vector<std::string>{"fp32"})
      o->spec.precisions = {"fp32", "bf16"};
    if (o->spec.output.empty()) o->spec.output = default_run_dir(o->kind + "-" + o->spec.model);
    if (o->spec.output.rfind("runs/", 0) == 0)
      o->spec.output = "studies/" + o->spec.output.substr(5);
    if (std::filesystem::exists(o->spec.output + "/report.json"))
      throw Error("study", o->spec.output + " already holds a report; pass a new --output");
    if (o->spec.binary.empty())
      o->spec.binary = std::filesystem::read_symlink("/proc/self/exe").string();
    study::study_cells(o->spec);  // bad --ranks and the like: before anything runs
    const auto report = study::run_study(o->spec, [](const std::string& line) {
      std::fprintf(stderr, "scaledl study: %s\n", line.c_str());
    });
    const auto figures = study::write_report(report, o->spec.output);
    int failed = 0;
    std::printf("%-22s %12s %9s %11s %8s  %s\n", "cell", "images/s", "speedup", "efficiency",
                "vs fp32", "runs");
    for (const auto& cell : report["cells"]) {
      if (cell["status"] != "completed") {
        ++failed;
        std::printf("%-22s %12s %9s %11s %8s  FAILED: %s\n",
                    cell["name"].get<std::string>().c_str(), "-", "-", "-", "-",
                    cell["runs"][0]["error"].get<std::string>().c_str());
        continue;
      }
      char gain[16] = "-";
      if (cell.contains("gain_over_fp32"))
        std::snprintf(gain, sizeof gain, "%+.1f%%", 100 * cell["gain_over_fp32"].get<double>());
      std::printf("%-22s %12.1f %8.2fx %10.1f%% %8s  %d\n", cell["name"].get<std::string>().c_str(),
                  cell["images_per_sec"].get<double>(), cell["speedup"].get<double>(),
                  100 * cell["efficiency"].get<double>(), gain, cell["completed_runs"].get<int>());
    }
    std::printf("report: %s/report.html (report.json, %zu figures in figures/)\n",
                o->spec.output.c_str(), figures.size());
    if (failed)
      std::fprintf(stderr, "scaledl study: %d cell(s) failed; the others are in the report\n",
                   failed);
    return failed ? 2 : 0;
  };
}

}  // namespace scaledl::cli
