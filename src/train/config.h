// TrainConfig: every setting of a training run, from flags or a --config JSON file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/config_enums.h"

namespace scaledl {

struct TrainConfig {
  std::string model = "resnet_small";
  std::string data = "idx:/usr/share/datasets/fashion-mnist";
  std::string eval_data;         // "" = the test split of `data`
  int loader_threads = 0;        // decode threads; 0 = one per core
  int prefetch = 2;              // batches decoded ahead of the step
  std::string shuffle = "full";  // full, none or buffer:K
  int64_t skip_corrupt = 0;      // corrupt samples skipped (and counted) before failing
  bool roi_decode = true;        // JPEG: decode only the random crop, DCT-scaled
  // Data parallelism (rank and world come from the launcher: mpirun, srun, torchrun-style).
  double comm_timeout = 60;            // seconds a collective may take before the job is ended
  double bucket_mb = 25;               // gradient bucket size
  bool overlap = true;                 // allreduce buckets during backward
  WireType grad_wire = WireType::f32;  // gradients on the wire
  OptimizerKind optimizer = OptimizerKind::sgd;
  float lars_eta = 0.001f;
  LrScaling lr_scaling = LrScaling::none;  // linear: lr x global batch / lr_base_batch
  int64_t lr_base_batch = 256;
  double baseline_ips = 0;  // one-rank images/s, for the scaling efficiency in summary.json
  int64_t batch = 128;      // per rank
  int64_t epochs = 8;
  int64_t steps = 0;       // > 0: stop after this many steps instead of `epochs`
  int64_t stop_after = 0;  // > 0: this invocation stops (checkpointed) after this many steps;
                           // the schedule still spans the whole run (time-sliced jobs)
  int64_t image_size = 0;  // synthetic data and model input; 0 = the model's or data's own
  float lr = 0.1f;
  float end_lr = 0.f;  // cosine and poly schedules decay towards this
  Schedule::Kind schedule = Schedule::Kind::cosine;
  float warmup_epochs = 0.5f;
  std::vector<int64_t> milestones;  // step schedule, in epochs
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 5e-4f;
  bool no_decay_norm_bias = true;
  float label_smoothing = 0.1f;
  bool zero_init_residual = true;
  int crop_pad = 0;  // random crop after this much zero padding (0 = no crop: Fashion-MNIST
                     // items are centred; pad 2 cost 0.9 points over 8 epochs, 92.20 vs 93.13)
  bool flip = true;
  Layout layout = Layout::nhwc;
  int threads = 0;  // 0 = one per core
  std::string device = "cpu";
  TrainPrecision precision = TrainPrecision::fp32;
  uint64_t seed = 1;
  std::string run_dir = "runs/latest";
  std::string resume;            // "" = fresh; "auto" = RUN_DIR/checkpoint.safetensors; or a path
  int64_t checkpoint_every = 0;  // steps; 0 = at the end of each epoch only
  int64_t log_every = 20;        // steps between steps.jsonl records
  bool profile = false;          // per-layer times in summary.json
  bool eval = true;              // evaluate after each epoch
  // Stopping: these signals stop the run at the next step with a checkpoint (exit code 75);
  // "none" leaves the default actions.
  std::string stop_signals = "TERM,INT,USR1";
  bool requeue_on_signal = false;  // under Slurm: scontrol requeue after a signal's checkpoint
  double heartbeat = 10;           // seconds between status.json heartbeats
  // Time to accuracy: > 0 ends the run at the first evaluation whose top-1 (percent) reaches it.
  double target_accuracy = 0;
  // The MLPerf training log (RUN_DIR/mlperf_log.txt): ResNet rules 4.0.0 keys.
  bool mllog = true;
  bool tensorboard = true;  // RUN_DIR/events.out.tfevents.*
  bool trace = false;       // RUN_DIR/trace.json (rank R: trace.rank<R>.json): Chrome trace events
  bool monitor = true;      // RUN_DIR/monitor.jsonl: CPU, memory, disk, network, GPUs
  double monitor_interval = 1;  // seconds between system samples
  std::string mllog_org = "scaledl";
  std::string mllog_platform;                     // "" = WORLDxDEVICE, e.g. 8xcuda or 1xcpu
  MlDivision mllog_division = MlDivision::kOpen;  // closed: the closed rules' checks

  // Throws Error naming the flag for out-of-range values.
  void validate() const;
  nlohmann::json to_json() const;
};

}  // namespace scaledl
