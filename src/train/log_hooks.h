// The run's own records as hooks: steps.jsonl (means over each --log-every interval), the
// progress line (rate and ETA, once a second and at epoch ends), evals.jsonl and the summary's
// evaluation history, and status.json's progress.
#pragma once
#include <memory>

#include "telemetry/run_status.h"
#include "train/hooks.h"

namespace scaledl {

std::unique_ptr<TrainHook> steps_log_hook(const std::string& run_dir);
std::unique_ptr<TrainHook> progress_hook();
std::unique_ptr<TrainHook> evals_log_hook(const std::string& run_dir);
// Feeds `status` (owned by the caller: it outlives the Trainer to record a failure).
std::unique_ptr<TrainHook> status_hook(StatusFile& status);

}  // namespace scaledl
