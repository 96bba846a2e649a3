// The trace hook: starts the recorder, adds a span per step, writes the rank's trace file.
#include "train/trace_hook.h"

#include "core/log.h"
#include "core/trace.h"
#include "telemetry/trace_writer.h"

namespace scaledl {

namespace {
class TraceHook : public TrainHook {
 public:
  TraceHook(const TrainConfig& cfg, int rank) : path_(trace_path(cfg.run_dir, rank)), rank_(rank) {}
  ~TraceHook() override { trace_enable(false); }
  TraceHook(const TraceHook&) = delete;
  TraceHook& operator=(const TraceHook&) = delete;

  void run_start(const RunFacts&) override {
    trace_clear();
    set_trace_thread_name("train", 0);  // the step's track first
    trace_enable(true);
  }
  void step_start(int64_t step) override {
    step_ = step;
    step_begin_ns_ = trace_clock_ns();
  }
  void step_end(const StepRecord&) override {
    trace_record("step " + std::to_string(step_), "step", step_begin_ns_, trace_clock_ns(),
                 {{"step", step_}});
  }
  void run_end(nlohmann::json& summary) override {
    trace_enable(false);
    const TraceData data = trace_collect();
    trace_clear();
    write_trace_json(path_, data, rank_, "rank " + std::to_string(rank_));
    if (data.dropped > 0)
      log_warn("trace: " + std::to_string(data.dropped) + " spans past " +
               std::to_string(kTraceMaxEventsPerThread) +
               " per thread were not kept; trace fewer steps (--steps, --stop-after)");
    summary["trace"] = path_;
  }

 private:
  std::string path_;
  int rank_;
  int64_t step_ = 0, step_begin_ns_ = 0;
};
}  // namespace

std::string trace_path(const std::string& run_dir, int rank) {
  return run_dir + (rank == 0 ? "/trace.json" : "/trace.rank" + std::to_string(rank) + ".json");
}

std::unique_ptr<TrainHook> trace_hook(const TrainConfig& cfg, int rank) {
  return std::make_unique<TraceHook>(cfg, rank);
}

}  // namespace scaledl
