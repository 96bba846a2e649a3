// The study matrix: cells, the command of each run, alternating rounds with progress and ETA,
// and the report's numbers read back from every run's summary.json and monitor.jsonl.
#include "study/study.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/subprocess.h"

namespace scaledl::study {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const std::string& what) {
  throw Error("study", what);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) return nullptr;
  return nlohmann::json::parse(f, nullptr, false);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The error line of a failed run: its status.json's, else the last "error:" line it printed.
std::string error_line(const std::string& run_dir, const std::string& console) {
  const auto status = read_json(run_dir + "/status.json");
  if (status.is_object() && status.contains("error")) return status["error"].get<std::string>();
  std::string last, line;
  std::istringstream in(console);
  while (std::getline(in, line))
    if (line.find("error:") != std::string::npos) last = line;
  return last.empty() ? "the run wrote no summary.json" : last;
}

// Sum over the network interfaces a node talks to others with (not loopback).
double net_sum(const nlohmann::json& net, const char* key) {
  double s = 0;
  if (!net.is_object()) return 0;
  for (const auto& [name, v] : net.items())
    if (name != "lo" && v.is_object() && v.contains(key)) s += v[key].get<double>();
  return s;
}

// What the report keeps of one completed run.
nlohmann::json run_record(const std::string& run_dir) {
  const auto s = read_json(run_dir + "/summary.json");
  nlohmann::json r = {{"run_dir", run_dir},
                      {"status", "completed"},
                      {"images_per_sec", s.value("images_per_sec", 0.0)},
                      {"world_size", s.value("world_size", 1)},
                      {"global_batch", s.value("global_batch", 0)},
                      {"wall_seconds", s.value("wall_seconds", 0.0)},
                      {"seconds", s.value("seconds", nlohmann::json::object())}};
  if (s.contains("monitor") && s["monitor"].is_object()) {
    const auto& m = s["monitor"];
    const auto mean = m.value("mean", nlohmann::json::object());
    r["disk_read_mb_s"] = mean.value("disk_read_mb_s", 0.0);
    r["net_tx_mb_s"] = net_sum(m.value("net", nlohmann::json::object()), "tx_mb_s_mean");
    r["net_rx_mb_s"] = net_sum(m.value("net", nlohmann::json::object()), "rx_mb_s_mean");
  }
  if (s.contains("data_pipeline") && s.value("wall_seconds", 0.0) > 0)
    r["data_read_mb_s"] =
        s["data_pipeline"].value("bytes_read", 0.0) / 1e6 / s["wall_seconds"].get<double>();
  // The monitor's series over time (rank 0: one node's view), for the time plots.
  nlohmann::json series = {{"t", nlohmann::json::array()},
                           {"disk_read_mb_s", nlohmann::json::array()},
                           {"net_tx_mb_s", nlohmann::json::array()}};
  std::ifstream mon(run_dir + "/monitor.jsonl");
  double t0 = -1;
  for (std::string line; std::getline(mon, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("time")) continue;
    if (t0 < 0) t0 = j["time"].get<double>();
    series["t"].push_back(j["time"].get<double>() - t0);
    series["disk_read_mb_s"].push_back(j.value("disk_read_mb_s", 0.0));
    series["net_tx_mb_s"].push_back(net_sum(j.value("net", nlohmann::json::object()), "tx_mb_s"));
  }
  r["series"] = series;
  return r;
}

std::string fmt_duration(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return b;
}

}  // namespace

StudyKind parse_study_kind(const std::string& s) {
  if (s == "scaling") return StudyKind::scaling;
  if (s == "precision") return StudyKind::precision;
  if (s == "batch") return StudyKind::batch;
  if (s == "storage") return StudyKind::storage;
  bad("unknown study '" + s + "': use scaling, precision, batch or storage");
}

Launcher parse_launcher(const std::string& s) {
  if (s == "mpirun") return Launcher::mpirun;
  if (s == "slurm") return Launcher::slurm;
  bad("--launcher '" + s + "': use mpirun or slurm");
}

const char* study_kind_name(StudyKind k) {
  switch (k) {
    case StudyKind::scaling:
      return "scaling";
    case StudyKind::precision:
      return "precision";
    case StudyKind::batch:
      return "batch";
    case StudyKind::storage:
      return "storage";
  }
  return "?";
}

std::vector<Cell> study_cells(const StudySpec& spec) {
  if (spec.ranks.empty() || spec.precisions.empty()) bad("--ranks and --precisions need a value");
  for (int r : spec.ranks)
    if (r < 1) bad("--ranks " + std::to_string(r) + ": give 1 or more");
  for (int b : spec.batches)
    if (b < 1) bad("--batches " + std::to_string(b) + ": give 1 or more");
  const std::vector<int> batches = spec.batches.empty() ? std::vector<int>{0} : spec.batches;
  std::vector<Cell> cells;
  std::set<std::string> seen;
  for (int b : batches)
    for (const auto& p : spec.precisions)
      for (int r : spec.ranks) {
        Cell c{"ranks" + std::to_string(r) + "-" + p + (b ? "-b" + std::to_string(b) : ""), r, p,
               b};
        if (seen.insert(c.name).second) cells.push_back(c);
      }
  return cells;
}

std::vector<std::string> run_command(const StudySpec& spec, const Cell& cell,
                                     const std::string& run_dir) {
  std::vector<std::string> train = {"train",
                                    "--model",
                                    spec.model,
                                    "--data",
                                    spec.data,
                                    "--steps",
                                    std::to_string(spec.steps),
                                    "--precision",
                                    cell.precision,
                                    "--threads",
                                    std::to_string(spec.threads),
                                    "--no-eval"};
  if (cell.batch) train.insert(train.end(), {"--batch", std::to_string(cell.batch)});
  train.insert(train.end(), spec.train_args.begin(), spec.train_args.end());
  std::vector<std::string> argv;
  if (spec.launcher == Launcher::slurm) {
    const int per_node =
        spec.ranks_per_node > 0 ? std::min(spec.ranks_per_node, cell.ranks) : cell.ranks;
    const int nodes = (cell.ranks + per_node - 1) / per_node;
    if (nodes * per_node != cell.ranks)
      bad("--ranks " + std::to_string(cell.ranks) + " is not a multiple of --ranks-per-node " +
          std::to_string(per_node));
    argv = {spec.binary,
            "submit",
            "train",
            "--nodes",
            std::to_string(nodes),
            "--ntasks-per-node",
            std::to_string(per_node),
            "--wait",
            "--run-dir",
            run_dir};
    argv.insert(argv.end(), train.begin() + 1, train.end());
    return argv;
  }
  train.insert(train.end(), {"--run-dir", run_dir});
  argv = {"mpirun", "-np", std::to_string(cell.ranks), "--oversubscribe", "--bind-to", "none"};
  if (::geteuid() == 0) argv.push_back("--allow-run-as-root");
  argv.push_back(spec.binary);
  argv.insert(argv.end(), train.begin(), train.end());
  return argv;
}

nlohmann::json run_study(const StudySpec& spec,
                         const std::function<void(const std::string&)>& progress) {
  const std::vector<Cell> cells = study_cells(spec);
  if (spec.repeats < 1) bad("--repeats must be 1 or more");
  if (spec.steps < 1) bad("--steps must be 1 or more");
  std::error_code ec;
  fs::create_directories(spec.output + "/runs", ec);
  if (ec) bad("cannot create " + spec.output + "/runs: " + ec.message());
  nlohmann::json report = {{"schema", 1},
                           {"study", study_kind_name(spec.kind)},
                           {"model", spec.model},
                           {"data", spec.data},
                           {"steps", spec.steps},
                           {"repeats", spec.repeats},
                           {"threads_per_rank", spec.threads},
                           {"launcher", spec.launcher == Launcher::slurm ? "slurm" : "mpirun"},
                           {"cells", nlohmann::json::array()}};
  for (const auto& c : cells)
    report["cells"].push_back({{"name", c.name},
                               {"ranks", c.ranks},
                               {"precision", c.precision},
                               {"batch", c.batch},
                               {"runs", nlohmann::json::array()}});
  const size_t total = cells.size() * static_cast<size_t>(spec.repeats);
  size_t done = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < spec.repeats; ++round)
    for (size_t i = 0; i < cells.size(); ++i) {
      // Alternate: every other round runs the cells in reverse, so drift in the machine's
      // speed falls on every cell alike.
      const size_t k = round % 2 ? cells.size() - 1 - i : i;
      const std::string run_dir =
          fs::absolute(spec.output + "/runs/" + cells[k].name + "-r" + std::to_string(round + 1))
              .string();
      const ProcessResult r = run_process(run_command(spec, cells[k], run_dir), 24 * 3600.0);
      write_file_atomic(run_dir + ".log", r.out + r.err);
      nlohmann::json rec;
      if (r.exit_code == 0 && fs::exists(run_dir + "/summary.json")) {
        rec = run_record(run_dir);
      } else {
        rec = {{"run_dir", run_dir},
               {"status", "failed"},
               {"error", error_line(run_dir, r.out + r.err)},
               {"log", run_dir + ".log"}};
      }
      rec["round"] = round + 1;
      report["cells"][k]["runs"].push_back(rec);
      ++done;
      const double el =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      char line[512];
      std::snprintf(line, sizeof line, "run %zu/%zu %s round %d: %s; %.1f runs/min, ETA %s", done,
                    total, cells[k].name.c_str(), round + 1,
                    rec["status"] == "completed"
                        ? (std::to_string(static_cast<long>(rec["images_per_sec"].get<double>())) +
                           " images/s")
                              .c_str()
                        : ("FAILED: " + rec["error"].get<std::string>()).c_str(),
                    done / el * 60, fmt_duration(el / done * (total - done)).c_str());
      progress(line);
    }
  summarize(report);
  return report;
}

void summarize(nlohmann::json& report) {
  auto& cells = report["cells"];
  auto median_of = [](const nlohmann::json& runs, const char* key) {
    std::vector<double> v;
    for (const auto& r : runs)
      if (r["status"] == "completed" && r.contains(key)) v.push_back(r[key].get<double>());
    return median(v);
  };
  for (auto& c : cells) {
    int ok = 0;
    for (const auto& r : c["runs"]) ok += r["status"] == "completed";
    c["completed_runs"] = ok;
    c["status"] = ok ? "completed" : "failed";
    if (!ok) continue;
    for (const char* key :
         {"images_per_sec", "disk_read_mb_s", "net_tx_mb_s", "net_rx_mb_s", "data_read_mb_s"})
      c[key] = median_of(c["runs"], key);
    c["images_per_sec_per_rank"] = c["images_per_sec"].get<double>() / c["ranks"].get<int>();
  }
  // Speedup and efficiency against the smallest rank count of the same precision and batch;
  // precision gain against fp32 at the same ranks and batch.
  for (auto& c : cells) {
    if (c["status"] != "completed") continue;
    const nlohmann::json* base = nullptr;
    const nlohmann::json* fp32 = nullptr;
    for (const auto& o : cells) {
      if (o["status"] != "completed" || o["batch"] != c["batch"]) continue;
      if (o["precision"] == c["precision"] && (!base || o["ranks"] < (*base)["ranks"])) base = &o;
      if (o["precision"] == "fp32" && o["ranks"] == c["ranks"]) fp32 = &o;
    }
    const double ips = c["images_per_sec"].get<double>();
    const double bips = (*base)["images_per_sec"].get<double>();
    const double ideal = c["ranks"].get<double>() / (*base)["ranks"].get<double>();
    c["baseline"] = (*base)["name"];
    c["speedup"] = ips / bips;
    c["ideal_speedup"] = ideal;
    c["efficiency"] = ips / bips / ideal;
    if (fp32 && c["precision"] != "fp32")
      c["gain_over_fp32"] = ips / (*fp32)["images_per_sec"].get<double>() - 1;
  }
}

}  // namespace scaledl::study
