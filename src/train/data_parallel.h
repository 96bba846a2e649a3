// Data parallelism for the trainer: the job's Group (from the launcher's environment), gradient
// averaging overlapped with backward (GradSync on the Net's grad-ready hook), the collectives
// around it (parameters from rank 0 at the start, the step's loss, evaluation counts, a final
// check that every rank holds the same parameters) and its telemetry. A job on GPUs moves
// device memory (gradients, parameters, batch-norm statistics) over NCCL and the host's
// scalars (loss, counts, checksums) over MPI.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dist/grad_sync.h"
#include "dist/group.h"
#include "nn/net.h"
#include "train/config.h"
#include "train/evaluator.h"

namespace scaledl {

class DataParallel {
 public:
  // Joins the job the environment describes (world 1 when no launcher is seen).
  explicit DataParallel(const TrainConfig& cfg);
  ~DataParallel();
  int rank() const { return group_->rank(); }
  int world() const { return group_->world(); }
  bool lead() const { return rank() == 0; }
  // The device this rank computes on: --device, with a bare "cuda" in a job of several ranks
  // meaning the local rank's GPU (the NCCL group's).
  Device device() const { return device_; }

  // Rank 0's parameters and buffers everywhere; attaches gradient averaging to `net`.
  void attach(Net& net);
  void begin_step() {
    if (sync_) sync_->begin_step();
  }
  // After backward: waits for the gradient buckets still in flight.
  void finish_step() {
    if (sync_) sync_->finish();
  }
  // The step's mean loss and how many ranks asked to stop, in one allreduce: every rank gets
  // the same answer, so every rank stops at the same step whichever of them got the signal.
  struct StepVote {
    float loss;
    int stop_ranks;
  };
  StepVote vote(float loss, bool stop);
  // How many ranks have `flag` set (every rank calls it; `what` names the call in errors).
  int count_ranks(bool flag, const std::string& what);
  // Sums the counts of every rank's share and recomputes the percentages; interrupted on every
  // rank when it was on one.
  void reduce(EvalResult& r);
  // Batch-norm running statistics are per rank during training; before evaluating or saving,
  // every rank takes their mean (so all ranks evaluate, and rank 0 saves, the same model).
  void average_buffers(Net& net);
  // Throws the same Error on every rank unless all ranks hold the same `values` (the run's
  // steps per epoch, step count, start step, parameter count, ...): a mismatch would pair
  // different collectives.
  void check_agreement(const std::vector<int64_t>& values, const std::string& what);
  // A barrier that waits at least `seconds` (rank 0 writing a checkpoint to a slow disk must
  // not look like a stalled rank to the others).
  void barrier(const std::string& what, double seconds);
  // True when every rank's parameters and buffers are bit-identical (CRC32C compared).
  bool params_identical(const Net& net);

  // summary.json's "distributed" object; ips: the job's measured images/s.
  nlohmann::json json(double ips, double baseline_ips) const;

 private:
  // The group for a tensor of this device: NCCL for cuda memory in a multi-GPU job.
  Group& group_for(const Tensor& t) const;

  GroupPtr group_, device_group_;
  Device device_;
  std::string launcher_;
  GradSyncOptions sync_opt_;
  std::unique_ptr<GradSync> sync_;
};

}  // namespace scaledl
