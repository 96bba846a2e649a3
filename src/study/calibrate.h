// Calibration of the sizing model from measurements: a `scaledl train` run folder (summary.json,
// steps.jsonl) gives the compute, overhead and, for several ranks, communication terms; a
// `scaledl comm bench --json` file gives a link's bandwidth and latency.
#pragma once
#include <string>

#include "study/plan.h"

namespace scaledl::study {

// What a run measured, per step and per rank (means over steps.jsonl's records after the first,
// which holds the warm-up).
struct RunMeasure {
  std::string dir, model, grad_wire = "f32";
  int world_size = 1, records = 0;
  int64_t batch = 0, global_batch = 0, params = 0, steps = 0;
  double images_per_sec = 0;  // summary.json: the run's own figure
  double forward_s = 0, backward_s = 0, optimizer_s = 0, data_s = 0, device_wait_s = 0;
  double comm_exposed_s = 0;
  double allreduce_s = 0;  // per step, on the communication thread (world > 1)
  double hidden_fraction = 0;
  bool overlap = true;
  double cpu_s = 0;  // process CPU seconds per step (monitor's mean cpu_process_pct x step)
  double compute_s() const { return forward_s + backward_s + optimizer_s; }
};

// Reads RUN_DIR/summary.json and RUN_DIR/steps.jsonl. Throws Error naming what is missing.
RunMeasure read_run(const std::string& dir);

// A link fitted from comm bench allreduce rows: bandwidth from the bus bandwidth of the largest
// sizes, latency from the smallest size's time.
struct LinkFit {
  Link link;
  int ranks = 0, rows = 0;
};
LinkFit read_comm_bench(const std::string& file);
// The fit of rows already parsed (a JSON array's text).
LinkFit fit_comm_bench(const std::string& json_text, const std::string& where);

// Sets the model's compute terms (device images/s, batch, backward share, overhead), params and
// gradient precision from a run; with several ranks also the overlap and the link the run's
// allreduce used (intra-node when all its ranks fit on one node).
void calibrate(PlanInput& in, const RunMeasure& run);

struct Comparison {
  int devices = 0;
  double predicted_ips = 0, measured_ips = 0, error = 0;  // error: predicted / measured - 1
};
// The model's images/s at the run's rank count and batch, against what the run measured.
Comparison compare(const PlanInput& in, const RunMeasure& run);

}  // namespace scaledl::study
