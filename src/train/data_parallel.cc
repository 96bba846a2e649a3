// DataParallel: the trainer's side of the Group.
#include "train/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/bootstrap.h"
#include "dist/mpi_group.h"
#include "dist/nccl_group.h"

namespace scaledl {

DataParallel::DataParallel(const TrainConfig& cfg) {
  const LaunchInfo launch = detect_launch();
  launcher_ = launch.launcher;
  group_ = launch.world > 1 ? mpi_group(launch) : single_process_group();
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.comm_timeout * 1000));
  group_->set_timeout(timeout);
  device_ = parse_device(cfg.device);
  if (!device_.is_cpu() && launch.world > 1) {
    if (cfg.device == "cuda") device_ = nccl_device(launch);
    if (cfg.grad_wire != WireType::f32)
      throw Error("config", "--grad-wire " + enum_name(cfg.grad_wire) +
                                " converts gradients on the host; with --device cuda NCCL moves "
                                "them as f32: use --grad-wire f32");
    device_group_ = nccl_group(launch, timeout);
  }
  sync_opt_.bucket_bytes = static_cast<size_t>(cfg.bucket_mb * 1e6);
  sync_opt_.overlap = cfg.overlap;
  sync_opt_.wire = cfg.grad_wire;
  if (!lead()) set_log_level(LogLevel::warn);  // one progress line per job, from rank 0
}

DataParallel::~DataParallel() = default;

Group& DataParallel::group_for(const Tensor& t) const {
  return !t.device().is_cpu() && device_group_ ? *device_group_ : *group_;
}

void DataParallel::attach(Net& net) {
  if (world() > 1) {
    const Tensor& p = net.flat_params();
    group_for(p).broadcast(p.raw(), p.nbytes(), 0, "broadcast of rank 0's parameters");
    const Tensor& b = net.flat_buffers();
    if (b.numel() > 0)
      group_for(b).broadcast(b.raw(), b.nbytes(), 0, "broadcast of rank 0's buffers");
  }
  // One process on a GPU has nothing to average.
  if (world() == 1 && !net.device().is_cpu()) return;
  const Tensor& g = net.flat_grads();
  sync_ = std::make_unique<GradSync>(g.device().is_cpu() ? group_ : device_group_, g, sync_opt_);
  GradSync* sync = sync_.get();
  net.set_grad_ready_hook([sync](int64_t from) { sync->ready(from); });
}

DataParallel::StepVote DataParallel::vote(float loss, bool stop) {
  float v[2] = {loss, stop ? 1.f : 0.f};
  if (world() > 1)
    group_->allreduce(v, 2, WireType::f32, ReduceOp::sum,
                      "allreduce of the step's loss and stop vote");
  // Summed, then divided, as the one-element average did: the same loss to the last bit.
  return {world() > 1 ? v[0] / static_cast<float>(world()) : v[0],
          static_cast<int>(std::lround(v[1]))};
}

int DataParallel::count_ranks(bool flag, const std::string& what) {
  float v = flag ? 1.f : 0.f;
  if (world() > 1) group_->allreduce(&v, 1, WireType::f32, ReduceOp::sum, what);
  return static_cast<int>(std::lround(v));
}

void DataParallel::reduce(EvalResult& r) {
  if (world() == 1) return;
  // f32 holds counts exactly up to 2^24 per split; a test set larger than that is not for this.
  float v[5] = {static_cast<float>(r.hits1), static_cast<float>(r.hits5),
                static_cast<float>(r.loss_sum), static_cast<float>(r.samples),
                static_cast<float>(r.interrupted)};
  group_->allreduce(v, 5, WireType::f32, ReduceOp::sum, "allreduce of evaluation counts");
  r.interrupted = static_cast<int>(std::lround(v[4]));
  r.hits1 = static_cast<int64_t>(v[0]);
  r.hits5 = static_cast<int64_t>(v[1]);
  r.loss_sum = v[2];
  r.samples = static_cast<int64_t>(v[3]);
  r.finish();
}

void DataParallel::average_buffers(Net& net) {
  const Tensor& b = net.flat_buffers();
  if (world() == 1 || b.numel() == 0) return;
  group_for(b).allreduce(b.raw(), static_cast<size_t>(b.numel()), WireType::f32, ReduceOp::average,
                         "allreduce of the batch-norm running statistics");
}

void DataParallel::check_agreement(const std::vector<int64_t>& values, const std::string& what) {
  if (world() == 1) return;
  std::vector<int64_t> all(values.size() * static_cast<size_t>(world()));
  group_->allgather(values.data(), all.data(), values.size() * sizeof(int64_t),
                    "allgather of the run's shape");
  for (int r = 0; r < world(); ++r)
    for (size_t k = 0; k < values.size(); ++k)
      if (all[static_cast<size_t>(r) * values.size() + k] != all[k])
        throw Error("dist", "rank " + std::to_string(r) + " and rank 0 disagree on " + what +
                                " (item " + std::to_string(k + 1) + ": " +
                                std::to_string(all[static_cast<size_t>(r) * values.size() + k]) +
                                " vs " + std::to_string(all[k]) +
                                "); give every rank the same data, flags and checkpoint");
}

void DataParallel::barrier(const std::string& what, double seconds) {
  if (world() == 1) return;
  const auto saved = group_->timeout();
  group_->set_timeout(
      std::max(saved, std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000))));
  group_->barrier(what);
  group_->set_timeout(saved);
}

bool DataParallel::params_identical(const Net& net) {
  const Tensor p = net.flat_params().to(Device::cpu());
  uint32_t mine = crc32c(p.raw(), p.nbytes());
  const Tensor b = net.flat_buffers().to(Device::cpu());
  if (b.numel() > 0) mine = crc32c(b.raw(), b.nbytes(), mine);
  std::vector<uint32_t> all(static_cast<size_t>(world()));
  group_->allgather(&mine, all.data(), sizeof mine, "allgather of parameter checksums");
  for (uint32_t c : all)
    if (c != mine) return false;
  return true;
}

nlohmann::json DataParallel::json(double ips, double baseline_ips) const {
  const CommStats cs = group_->stats();
  const GradSyncStats gs = sync_ ? sync_->stats() : GradSyncStats{};
  nlohmann::json j = {{"world_size", world()},
                      {"backend", group_->backend()},
                      {"launcher", launcher_},
                      {"bucket_mb", sync_opt_.bucket_bytes / 1e6},
                      {"buckets", gs.buckets},
                      {"overlap", sync_opt_.overlap},
                      {"grad_wire", sync_opt_.wire == WireType::f32   ? "f32"
                                    : sync_opt_.wire == WireType::f16 ? "f16"
                                                                      : "bf16"},
                      {"allreduce_seconds", gs.comm_seconds},
                      {"exposed_comm_seconds", gs.exposed_seconds},
                      {"hidden_fraction", gs.hidden_fraction()},
                      {"bytes_sent", cs.bytes_sent},
                      {"bytes_received", cs.bytes_received},
                      {"collective_calls", cs.calls}};
  if (baseline_ips > 0) j["scaling_efficiency"] = ips / (world() * baseline_ips);
  return j;
}

}  // namespace scaledl
