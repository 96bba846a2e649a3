// Checkpoints: a Net's parameters and buffers (PyTorch state_dict names, so torchvision can
// load_state_dict them), the optimizer's momentum, and the run position, in one safetensors
// file written atomically.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <utility>
#include "nn/net.h"

#include "core/tensor.h"

namespace scaledl {

struct CheckpointInfo {
  std::string model;
  int64_t step = 0;   // updates done
  int64_t epoch = 0;  // epoch of the next step
  uint64_t rng_state = 0;
  int64_t image_size = 0;
  int in_channels = 0;
  int classes = 0;
  std::vector<float> mean, stddev;  // input normalization the net was trained with
  std::string config_json;          // the run's TrainConfig
  // fp16's dynamic loss scale and its run of clean steps (0: the run scales no loss).
  float loss_scale = 0.f;
  int64_t loss_scale_clean_steps = 0;
};

// An optimizer's state tensors by checkpoint name (Sgd::state(), Lars::state()).
using OptimizerState = std::vector<std::pair<std::string, Tensor>>;

// state may be null (inference checkpoints carry no optimizer state).
void save_checkpoint(const std::string& path, const Net& net, const OptimizerState* state,
                     const CheckpointInfo& info);
// Reads only the metadata (to build the right model before loading).
CheckpointInfo read_checkpoint_info(const std::string& path);
// Loads into `net` (and the optimizer state when given); throws Error naming the file and
// tensor when the checkpoint does not fit the net.
CheckpointInfo load_checkpoint(const std::string& path, Net& net, const OptimizerState* state);

}  // namespace scaledl
