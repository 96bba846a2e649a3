// The run's telemetry sinks as Trainer hooks (rank 0): the MLPerf training log, TensorBoard.
#pragma once
#include <memory>

#include "telemetry/monitor.h"
#include "train/hooks.h"

namespace scaledl {

// RUN_DIR/mlperf_log.txt: the header (submission, hyperparameters, dataset sizes) at a fresh
// run's start, a block per epoch, eval_start/stop and eval_accuracy per evaluation, run_stop
// (success once an evaluation reached --target-accuracy, or the ResNet target 75.9% without one)
// when the run is over. A resumed run appends its blocks and evaluations without a new header.
// Throws Error at construction for a closed-division run whose hyperparameters the rules reject.
std::unique_ptr<TrainHook> mllog_hook(const TrainConfig& cfg, const RunFacts& facts);

// RUN_DIR/events.out.tfevents.*: per --log-every interval train/loss, train/lr,
// train/images_per_sec, time/data_wait_s, time/comm_exposed_s (and train/loss_scale with fp16),
// per evaluation eval/top1, eval/top5, eval/loss, all at the step they describe; the run's
// settings as HParams (with the eval metrics) at its start, the session's end when it is over.
std::unique_ptr<TrainHook> tensorboard_hook(const TrainConfig& cfg);
// The TensorBoard hook's entry for the system monitor's samples (sys/* scalars at `step`); call it
// on the training thread, between the hook's run_start and run_end.
void tensorboard_system_sample(TrainHook& tensorboard, const MonitorSample& s, int64_t step);

}  // namespace scaledl
