// How a training run ends when it does not complete: a stop signal's requeue under Slurm, and
// the records of a failed run (status.json "failed" with the error line, summary.json).
#pragma once
#include <string>

#include "telemetry/run_status.h"
#include "train/config.h"

namespace scaledl {

// Asks Slurm to requeue this job (scontrol requeue $SLURM_JOB_ID); "" on success, else the
// reason it did not.
std::string requeue_slurm_job();

// Marks the run failed in status.json and writes a summary.json saying so (rank 0's records).
void record_failure(const TrainConfig& cfg, StatusFile& status, const std::string& error);

}  // namespace scaledl
