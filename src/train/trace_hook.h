// `scaledl train --trace`: the run as a Chrome trace-event file per rank (telemetry/
// trace_writer.h), for Perfetto (ui.perfetto.dev: open the ranks' files together and they share
// one timeline, a process per rank) or chrome://tracing (one file at a time).
//
// Tracks: "train" (a span per step, the step's phases from the Trainer, forward and backward
// per layer), "comm" (each gradient bucket's allreduce, with its bytes), "loader N" (the decode
// work, a span per chunk of rows). Each rank writes its own file, so ranks never wait for each
// other to record or write: RUN_DIR/trace.json on rank 0, RUN_DIR/trace.rank<R>.json on rank R.
#pragma once
#include <memory>
#include <string>

#include "train/hooks.h"

namespace scaledl {

// The trace file of `rank` in `run_dir`.
std::string trace_path(const std::string& run_dir, int rank);

// Turns tracing on at the run's start (forgetting spans recorded before) and off at its end,
// then writes trace_path(cfg.run_dir, rank) and sets summary["trace"] to it. A run that fails
// writes no trace (tracing is turned off when the hook goes away).
std::unique_ptr<TrainHook> trace_hook(const TrainConfig& cfg, int rank);

}  // namespace scaledl
