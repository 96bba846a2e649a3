// The system monitor as a Trainer hook, on every rank: samples from run_start to run_end,
// monitor.jsonl lines, summary.json's "monitor", and the latest sample for other sinks.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "telemetry/monitor.h"
#include "train/hooks.h"

namespace scaledl {

// Called on the training thread, at the first step_end after each new sample, with that step:
// how the TensorBoard hook (or any sink that is not thread-safe) sees the samples.
using MonitorListener = std::function<void(const MonitorSample&, int64_t step)>;

// Where a rank's samples go. Rank 0: RUN_DIR/monitor.jsonl (appended to by a resumed run).
// Rank R > 0: RUN_DIR/monitor.rank<R>.jsonl when RUN_DIR exists on its node at run_start
// (shared storage: every rank's file lands in the run folder; node-local run folders: rank 0's
// only), nothing otherwise; without communication no rank writes another's samples. Each line is
// MonitorSample::to_json() plus "rank" and "step" (steps finished when the sample was taken).
// run_end stops the sampler (a last sample covers the last partial interval) and sets
// summary["monitor"] = MonitorSummary::to_json() plus "jsonl" (the file, when one was written).
std::unique_ptr<TrainHook> monitor_hook(const TrainConfig& cfg, int rank,
                                        MonitorOptions options = {}, MonitorListener listener = {});

}  // namespace scaledl
