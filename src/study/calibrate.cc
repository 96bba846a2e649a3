// Reading run folders and comm bench files into the sizing model's terms.
#include "study/calibrate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace scaledl::study {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& what) {
  throw Error("plan", what);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

json parse(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    bad(where + ": not valid JSON (" + e.what() + ")");
  }
}

double number(const json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

}  // namespace

RunMeasure read_run(const std::string& dir) {
  const std::filesystem::path d(dir);
  if (!std::filesystem::is_directory(d))
    bad("--calibrate " + dir + ": no such folder; give a run folder of scaledl train");
  const std::string summary_path = (d / "summary.json").string();
  if (!std::filesystem::exists(summary_path))
    bad("--calibrate " + dir +
        ": no summary.json in it; give the folder of a finished "
        "scaledl train run");
  const json s = parse(slurp(summary_path), summary_path);
  RunMeasure m;
  m.dir = dir;
  m.model = s.value("model", "");
  m.world_size = static_cast<int>(number(s, "world_size", 1));
  m.batch = static_cast<int64_t>(number(s, "batch", 0));
  m.global_batch = static_cast<int64_t>(number(s, "global_batch", 0));
  m.params = static_cast<int64_t>(number(s, "params", 0));
  m.steps = static_cast<int64_t>(number(s, "steps_this_run", number(s, "steps", 0)));
  m.images_per_sec = number(s, "images_per_sec", 0);
  if (m.batch <= 0 || m.params <= 0 || m.steps <= 0 || !(m.images_per_sec > 0))
    bad(summary_path +
        ": no batch, params, steps or images_per_sec; is it a scaledl train "
        "summary of a run that took steps?");
  if (s.contains("distributed") && s["distributed"].is_object()) {
    const json& dist = s["distributed"];
    m.grad_wire = dist.value("grad_wire", "f32");
    m.overlap = dist.value("overlap", true);
    m.allreduce_s = number(dist, "allreduce_seconds", 0) / static_cast<double>(m.steps);
    m.hidden_fraction = number(dist, "hidden_fraction", 0);
  }
  // Phases per step: their shares from steps.jsonl's records after the first (the warm-up),
  // each weighted by the steps it covers, or from the summary's totals when there are fewer
  // than two records; their sum is then scaled to the run's own step time, global batch /
  // images_per_sec (the summary's figure, which leaves out the warm-up steps).
  std::vector<json> records;
  std::ifstream steps((d / "steps.jsonl").string());
  for (std::string line; std::getline(steps, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    records.push_back(parse(line, (d / "steps.jsonl").string()));
  }
  if (records.size() >= 2) {
    const size_t first = records.size() >= 3 ? 1 : 0;
    double total = 0, prev = first ? number(records[0], "step", 0) : 0;
    std::vector<double> w;
    for (size_t i = first; i < records.size(); ++i) {
      const double step = number(records[i], "step", prev + 1);
      w.push_back(std::max(1.0, step - prev));
      total += w.back();
      prev = step;
    }
    for (size_t i = first; i < records.size(); ++i) {
      const json& r = records[i];
      const double k = w[i - first] / total;
      m.forward_s += k * number(r, "forward_s", 0);
      m.backward_s += k * number(r, "backward_s", 0);
      m.optimizer_s += k * number(r, "optimizer_s", 0);
      m.data_s += k * number(r, "data_s", 0);
      m.device_wait_s += k * number(r, "device_wait_s", 0);
      m.comm_exposed_s += k * number(r, "comm_exposed_s", 0);
    }
    m.records = static_cast<int>(records.size() - first);
  } else if (s.contains("seconds") && s["seconds"].is_object()) {
    const json& sec = s["seconds"];
    const double n = static_cast<double>(m.steps);
    m.forward_s = number(sec, "forward", 0) / n;
    m.backward_s = number(sec, "backward", 0) / n;
    m.optimizer_s = number(sec, "optimizer", 0) / n;
    m.data_s = number(sec, "data", 0) / n;
    m.device_wait_s = number(sec, "device_wait", 0) / n;
    m.comm_exposed_s = number(sec, "comm_exposed", 0) / n;
  }
  const double sum = m.compute_s() + m.data_s + m.device_wait_s + m.comm_exposed_s;
  if (sum > 0 && m.global_batch > 0) {
    const double k = m.global_batch / m.images_per_sec / sum;
    for (double* v : {&m.forward_s, &m.backward_s, &m.optimizer_s, &m.data_s, &m.device_wait_s,
                      &m.comm_exposed_s})
      *v *= k;
  }
  // CPU per step: the system monitor's mean CPU of the process (percent of one core, every
  // thread) over the run's step time.
  if (s.contains("monitor") && s["monitor"].is_object() && s["monitor"].contains("mean") &&
      m.global_batch > 0)
    m.cpu_s = number(s["monitor"]["mean"], "cpu_process_pct", 0) / 100 * m.global_batch /
              m.images_per_sec;
  if (!(m.compute_s() > 0))
    bad(dir +
        ": no forward/backward seconds in steps.jsonl or summary.json; the run "
        "measured no steps");
  return m;
}

LinkFit fit_comm_bench(const std::string& json_text, const std::string& where) {
  const json rows = parse(json_text, where);
  if (!rows.is_array()) bad(where + ": want the JSON array of scaledl comm bench --json");
  struct Row {
    double bytes, time_s, busbw;
  };
  std::vector<Row> ar;
  int ranks = 0;
  for (const json& r : rows) {
    if (!r.is_object() || r.value("op", "") != "allreduce") continue;
    ranks = static_cast<int>(number(r, "ranks", 0));
    ar.push_back(
        {number(r, "bytes", 0), number(r, "time_us", 0) * 1e-6, number(r, "busbw_gbps", 0) * 1e9});
  }
  if (ar.empty()) bad(where + ": no allreduce rows; run scaledl comm bench --op allreduce");
  if (ranks < 2)
    bad(where + ": a bench of " + std::to_string(ranks) +
        " rank(s) measures no link; run it under mpirun with 2 or more ranks");
  std::sort(ar.begin(), ar.end(), [](const Row& a, const Row& b) { return a.bytes < b.bytes; });
  // Bandwidth: the median bus bandwidth of the sizes within 16x of the largest (the ring's
  // bytes term dominates there); bus bandwidth is what each rank's link carried.
  std::vector<double> big;
  for (const Row& r : ar)
    if (r.bytes * 16 >= ar.back().bytes && r.busbw > 0) big.push_back(r.busbw);
  if (big.empty()) bad(where + ": no allreduce row with a bandwidth above 0");
  std::sort(big.begin(), big.end());
  LinkFit f;
  f.ranks = ranks;
  f.rows = static_cast<int>(ar.size());
  f.link.bytes_per_s = big[big.size() / 2];
  // Latency: what the smallest size's time leaves after its bytes term, per ring step.
  const double p = ranks;
  const double bytes_s = 2 * (p - 1) / p * ar.front().bytes / f.link.bytes_per_s;
  f.link.latency_s = std::max(0.0, ar.front().time_s - bytes_s) / (2 * (p - 1));
  return f;
}

LinkFit read_comm_bench(const std::string& file) {
  if (!std::filesystem::exists(file))
    bad("--comm-bench " + file + ": no such file; write one with scaledl comm bench --json");
  return fit_comm_bench(slurp(file), file);
}

void calibrate(PlanInput& in, const RunMeasure& run) {
  in.params = run.params;
  in.precision = parse_precision(run.grad_wire);
  in.batch_per_device = run.batch;
  in.device_ips = static_cast<double>(run.batch) / run.compute_s();
  in.backward_fraction = run.backward_s / run.compute_s();
  in.step_overhead_s = run.data_s + run.device_wait_s;
  in.host_cpu_s = run.cpu_s;
  if (run.world_size <= 1 || !(run.allreduce_s > 0)) return;
  // Overlap: the share of the allreduce the run hid behind backward.
  in.overlap = run.overlap ? std::clamp(run.hidden_fraction, 0.0, 1.0) : 0.0;
  // The link: the bandwidth at which the model's allreduce takes the measured time.
  const bool one_node = run.world_size <= in.devices_per_node;
  Link& link = one_node ? in.intra : in.inter;
  const int p = run.world_size;
  const double g = gradient_bytes(in.params, in.precision);
  const double lat = 2.0 * (p - 1) * link.latency_s;
  const double bytes_s = run.allreduce_s - lat;
  if (bytes_s > 0) link.bytes_per_s = 2.0 * (p - 1) / p * g / bytes_s;
}

Comparison compare(const PlanInput& in, const RunMeasure& run) {
  PlanInput at = in;
  at.batch_per_device = run.batch;
  const PlanRow r = predict(at, run.world_size);
  Comparison c;
  c.devices = run.world_size;
  c.predicted_ips = r.images_per_sec;
  c.measured_ips = run.images_per_sec;
  c.error = c.predicted_ips / c.measured_ips - 1;
  return c;
}

}  // namespace scaledl::study
