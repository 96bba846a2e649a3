// Trainer: runs a training job end to end (data, model, optimizer, evaluation each epoch,
// checkpoints, steps.jsonl, summary.json) from a TrainConfig.
#pragma once
#include <nlohmann/json.hpp>

#include "train/config.h"

namespace scaledl {

// Runs the job; returns the summary also written to RUN_DIR/summary.json.
nlohmann::json run_training(const TrainConfig& config);

}  // namespace scaledl
