// Everything a run needs before its first step: the run folder checked, data loaded, the model
// built and initialized, loaders made, a checkpoint to resume from found.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "data/source.h"
#include "nn/net.h"
#include "train/checkpoint.h"
#include "train/config.h"

namespace scaledl {

struct RunSetup {
  std::unique_ptr<Net> net;
  std::unique_ptr<Loader> train_loader, test_loader;  // test_loader null: no test split
  std::string resume_path;                            // empty: a fresh run
  CheckpointInfo checkpoint_info;                     // what checkpoints of this run record
};

// rank/world: this process's place in a data-parallel job (its loaders read its share);
// device: where the net computes (--device, resolved per rank by DataParallel).
RunSetup prepare_run(const TrainConfig& cfg, int rank = 0, int world = 1,
                     Device device = Device::cpu());
// Makes (or checks) a writable run folder; throws Error naming it.
void ensure_run_dir(const std::string& dir);
// Per-layer-kind and top per-layer times (from Net profiling) per step.
nlohmann::json profile_json(const Net& net, int64_t steps);

}  // namespace scaledl
