// Studies: a matrix of `scaledl train` runs (ranks, precisions, batch sizes) launched with
// mpirun or through Slurm, run in alternating rounds, and the report that compares them.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scaledl::study {

enum class StudyKind { scaling, precision, batch, storage };
enum class Launcher { mpirun, slurm };
StudyKind parse_study_kind(const std::string& s);
Launcher parse_launcher(const std::string& s);
const char* study_kind_name(StudyKind k);

struct StudySpec {
  StudyKind kind = StudyKind::scaling;
  std::string model, data;
  std::vector<int> ranks = {1};
  std::vector<std::string> precisions = {"fp32"};
  std::vector<int> batches;  // empty: the trainer's default batch
  int steps = 100;
  int repeats = 1;         // rounds; cells alternate within each round
  int threads = 1;         // compute threads per rank
  int ranks_per_node = 0;  // slurm: 0 puts every rank of a cell on one node
  Launcher launcher = Launcher::mpirun;
  std::string output;                   // the report folder
  std::string binary;                   // the scaledl to run; empty: this one
  std::vector<std::string> train_args;  // more `scaledl train` flags, for every run
};

// One point of the matrix.
struct Cell {
  std::string name;  // e.g. "ranks2-fp32-b32": the runs' folder names start with it
  int ranks = 1;
  std::string precision;
  int batch = 0;  // 0: default
};
std::vector<Cell> study_cells(const StudySpec& spec);

// The argv that runs one cell's `scaledl train` into run_dir.
std::vector<std::string> run_command(const StudySpec& spec, const Cell& cell,
                                     const std::string& run_dir);

// Runs the matrix (every run's output in OUTPUT/runs/<cell>-r<k>/, its console in .log), keeps
// going past a failed run, and returns the report (see docs/studies.md); `progress` gets one
// line per finished run.
nlohmann::json run_study(const StudySpec& spec,
                         const std::function<void(const std::string&)>& progress);

// The report's numbers from the runs' records: medians per cell, speedup and efficiency against
// the smallest rank count, precision gains against fp32, storage and network MB/s per node.
// `runs` holds, per cell, the run folders that completed (others are marked failed already).
void summarize(nlohmann::json& report);

}  // namespace scaledl::study
