// Trainer hooks: what the run's sinks (steps.jsonl, the progress line, evals.jsonl, status.json,
// and later TensorBoard, the MLPerf log, the trace) see of a run. The Trainer decides; hooks
// record. A hook added on rank 0 only writes the job's files; one added on every rank sees its
// own rank's view. Hooks run on the training thread, in the order they were added.
#pragma once
#include <cstdint>

#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "train/config.h"
#include "train/evaluator.h"

namespace scaledl {

// Seconds of one step (or a sum of steps) by phase. comm: gradient communication the step
// waited for after backward (not hidden by overlap). device: on a GPU the host only queues
// work; this is the wait for the step's queued work at its end.
struct Phases {
  double data = 0, forward = 0, backward = 0, comm = 0, optimizer = 0, device = 0;
  double total() const { return data + forward + backward + comm + optimizer + device; }
  void add(const Phases& o) {
    data += o.data, forward += o.forward, backward += o.backward, comm += o.comm;
    optimizer += o.optimizer, device += o.device;
  }
};

// The run's shape, fixed before the first step.
struct RunFacts {
  const TrainConfig* config;
  int64_t start = 0;  // first step of this invocation (a resumed run's checkpoint step)
  int64_t end = 0;    // step this invocation stops at (--stop-after), <= total
  int64_t total = 0;  // steps of the whole run
  int64_t steps_per_epoch = 0;
  int64_t global_batch = 0;  // samples per step over all ranks
  int world = 1;
  int64_t train_samples = 0, eval_samples = 0;  // the splits' sizes (eval: 0 without one)
  double base_lr = 0;                           // the schedule's peak (after --lr-scaling)
  int64_t warmup_steps = 0;
};

// One finished step.
struct StepRecord {
  int64_t step = 0;   // steps done, this one included (1-based)
  int64_t epoch = 0;  // 0-based epoch of this step
  bool epoch_end = false;
  double loss = 0;  // the job's mean loss of this step
  float lr = 0;
  float loss_scale = 0;  // fp16's dynamic loss scale after this step; 0 without one
  Phases phases;
  const Loader* loader = nullptr;  // its counters so far
};

// Means over one logging interval (--log-every steps, or to an epoch's end), for the sinks that
// record intervals rather than steps.
struct IntervalMeans {
  Phases phases;
  double loss_sum = 0;
  int64_t steps = 0;
  // Adds the step; true when the interval ends with it (then read, then reset()).
  bool add(const StepRecord& r, int64_t log_every) {
    phases.add(r.phases);
    loss_sum += r.loss;
    ++steps;
    return r.step % log_every == 0 || r.epoch_end;
  }
  double n() const { return static_cast<double>(steps); }
  double loss() const { return loss_sum / n(); }
  double images_per_sec(int64_t global_batch) const { return n() * global_batch / phases.total(); }
  void reset() { *this = IntervalMeans{}; }
};

// One finished evaluation (never an interrupted one).
struct EvalRecord {
  int64_t epoch = 0;  // epochs done (1-based)
  int64_t step = 0;   // steps done
  const EvalResult* result = nullptr;
};

class TrainHook {
 public:
  virtual ~TrainHook() = default;
  virtual void run_start(const RunFacts&) {}
  virtual void step_start(int64_t /*step: 0-based*/) {}
  virtual void step_end(const StepRecord&) {}
  virtual void evaluation_start(int64_t /*epoch: epochs done*/) {}
  virtual void evaluated(const EvalRecord&) {}
  virtual void checkpointed(int64_t /*step*/) {}
  // The run is over (completed or stopped); a hook may add keys to the summary.
  virtual void run_end(nlohmann::json& /*summary*/) {}
};

}  // namespace scaledl
