// The MLPerf training log hook.
#include "train/telemetry_hooks.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <memory>

#include "core/error.h"
#include "telemetry/mllog.h"
#include "telemetry/tb_events.h"

namespace scaledl {

namespace {
// A float setting as the decimal the user wrote (0.0001f, not 9.999999747378752e-05): the
// shortest digits that read back as the same float.
double as_decimal(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf - 1, v);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

class MlLogHook : public TrainHook {
 public:
  MlLogHook(const TrainConfig& cfg, const RunFacts& f) : cfg_(cfg), info_(run_info(cfg, f)) {
    // Before the run: a closed run with settings the rules reject never starts.
    if (info_.division == MlDivision::kClosed && cfg.schedule != Schedule::Kind::poly)
      throw Error("mllog",
                  "--mllog-division closed: the closed ResNet rules decay the learning "
                  "rate polynomially; pass --schedule poly (and --end-lr 0.0001)");
    check_ml_run_info(info_);
  }

  void run_start(const RunFacts& f) override {
    facts_ = f;
    log_ = MlLog(cfg_.run_dir + "/mlperf_log.txt", f.start > 0);
    if (f.start == 0) {
      log_init(log_, info_);
      log_run_start(log_);
    }
  }
  void step_start(int64_t step) override {
    if (block_open_) return;
    block_epoch_ = step / facts_.steps_per_epoch + 1;
    log_block_start(log_, block_epoch_, 1);
    block_open_ = true;
  }
  void step_end(const StepRecord& r) override {
    if (!r.epoch_end) return;
    log_block_stop(log_, block_epoch_);
    block_open_ = false;
  }
  void evaluation_start(int64_t epoch) override { log_eval_start(log_, epoch); }
  void evaluated(const EvalRecord& r) override {
    log_eval_stop(log_, r.epoch);
    log_eval_accuracy(log_, r.result->top1 / 100.0, r.epoch);
    const double target =
        cfg_.target_accuracy > 0 ? cfg_.target_accuracy : 100 * kResnetTargetAccuracy;
    reached_ = reached_ || r.result->top1 >= target;
  }
  void run_end(nlohmann::json& summary) override {
    summary["mllog"] = log_.path();
    if (summary["status"] == "stopped") return;  // to be resumed: the run is not over
    log_run_stop(log_, reached_ ? MlRunStatus::kSuccess : MlRunStatus::kAborted);
  }

 private:
  static MlRunInfo run_info(const TrainConfig& cfg, const RunFacts& f) {
    MlRunInfo i;
    i.benchmark = cfg.model == "resnet50" ? "resnet" : cfg.model;
    i.org = cfg.mllog_org;
    i.platform = cfg.mllog_platform.empty() ? std::to_string(f.world) + "x" + cfg.device
                                            : cfg.mllog_platform;
    i.division = cfg.mllog_division;
    i.global_batch_size = f.global_batch;
    i.train_samples = f.train_samples;
    i.eval_samples = f.eval_samples;
    i.seed = static_cast<int64_t>(cfg.seed);
    i.optimizer = cfg.optimizer == OptimizerKind::lars ? MlOptimizer::kLars : MlOptimizer::kSgd;
    i.base_lr = as_decimal(static_cast<float>(f.base_lr));
    i.end_lr = as_decimal(cfg.end_lr);
    i.decay_steps = f.total - f.warmup_steps;
    i.warmup_epochs = static_cast<int64_t>(std::lround(cfg.warmup_epochs));
    i.momentum = as_decimal(cfg.momentum);
    i.weight_decay = as_decimal(cfg.weight_decay);
    i.bn_span = cfg.batch;  // batch-norm statistics are per rank
    return i;
  }

  const TrainConfig& cfg_;
  MlRunInfo info_;
  RunFacts facts_;
  MlLog log_;
  bool block_open_ = false, reached_ = false;
  int64_t block_epoch_ = 0;
};
class TensorBoardHook : public TrainHook {
 public:
  explicit TensorBoardHook(const TrainConfig& cfg) : cfg_(cfg) {}
  void run_start(const RunFacts& f) override {
    facts_ = f;
    tb_ = std::make_unique<EventWriter>(cfg_.run_dir);
    // The settings that take one value (strings, numbers, bools) are the run's hyperparameters.
    nlohmann::json hp = nlohmann::json::object();
    const nlohmann::json config = cfg_.to_json();
    for (const auto& [k, v] : config.items())
      if (v.is_primitive() && !v.is_null()) hp[k] = v;
    hp["global_batch"] = f.global_batch;
    hp["world_size"] = f.world;
    tb_->hparams(hp, {"eval/top1", "eval/top5", "eval/loss", "train/loss"});
  }
  void step_end(const StepRecord& r) override {
    if (!m_.add(r, cfg_.log_every)) return;
    tb_->scalar("train/loss", r.step, m_.loss());
    tb_->scalar("train/lr", r.step, r.lr);
    tb_->scalar("train/images_per_sec", r.step, m_.images_per_sec(facts_.global_batch));
    tb_->scalar("time/data_wait_s", r.step, m_.phases.data / m_.n());
    tb_->scalar("time/comm_exposed_s", r.step, m_.phases.comm / m_.n());
    if (r.loss_scale > 0) tb_->scalar("train/loss_scale", r.step, r.loss_scale);
    m_.reset();
  }
  void evaluated(const EvalRecord& r) override {
    tb_->scalar("eval/top1", r.step, r.result->top1);
    tb_->scalar("eval/top5", r.step, r.result->top5);
    tb_->scalar("eval/loss", r.step, r.result->loss);
  }
  void system_sample(const MonitorSample& s, int64_t step) {
    if (!tb_) return;
    for (const auto& [tag, v] : monitor_scalars(s)) tb_->scalar(tag, step, v);
  }
  void run_end(nlohmann::json& summary) override {
    summary["tensorboard"] = tb_->path();
    if (summary["status"] != "stopped") tb_->session_end(SessionStatus::success);
  }

 private:
  const TrainConfig& cfg_;
  RunFacts facts_;
  std::unique_ptr<EventWriter> tb_;
  IntervalMeans m_;
};
}  // namespace

std::unique_ptr<TrainHook> tensorboard_hook(const TrainConfig& cfg) {
  return std::make_unique<TensorBoardHook>(cfg);
}

void tensorboard_system_sample(TrainHook& tensorboard, const MonitorSample& s, int64_t step) {
  static_cast<TensorBoardHook&>(tensorboard).system_sample(s, step);
}

std::unique_ptr<TrainHook> mllog_hook(const TrainConfig& cfg, const RunFacts& facts) {
  return std::make_unique<MlLogHook>(cfg, facts);
}

}  // namespace scaledl
