// steps.jsonl, the progress line, evals.jsonl and status.json progress.
#include "train/log_hooks.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/log.h"
#include "telemetry/jsonl.h"

namespace scaledl {

namespace {
using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string eta_str(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  int t = static_cast<int>(s);
  std::snprintf(buf, sizeof buf, t >= 3600 ? "%dh%02dm" : "%dm%02ds", t >= 3600 ? t / 3600 : t / 60,
                t >= 3600 ? t / 60 % 60 : t % 60);
  return buf;
}

class StepsLog : public TrainHook {
 public:
  explicit StepsLog(std::string dir) : dir_(std::move(dir)) {}
  void run_start(const RunFacts& f) override {
    facts_ = f;
    log_ = JsonlWriter(dir_ + "/steps.jsonl", f.start > 0);  // a resumed run continues its log
  }
  void step_end(const StepRecord& r) override {
    if (!m_.add(r, facts_.config->log_every)) return;
    const double n = m_.n();
    const Phases& p = m_.phases;
    const LoaderStats ls = r.loader->stats();
    log_.write({{"schema", kRunRecordSchema},
                {"step", r.step},
                {"epoch", r.epoch},
                {"loss", m_.loss()},
                {"lr", r.lr},
                {"images_per_sec", m_.images_per_sec(facts_.global_batch)},
                {"data_s", p.data / n},
                {"forward_s", p.forward / n},
                {"backward_s", p.backward / n},
                {"comm_exposed_s", p.comm / n},
                {"optimizer_s", p.optimizer / n},
                {"device_wait_s", p.device / n},
                {"data_bytes_read_total", ls.bytes_read},
                {"data_samples_total", ls.samples},
                {"prefetch_depth", ls.mean_queue_depth()},
                {"corrupt_skipped", ls.corrupt_skipped}});
    m_.reset();
  }

 private:
  std::string dir_;
  RunFacts facts_;
  JsonlWriter log_;
  IntervalMeans m_;
};

class Progress : public TrainHook {
 public:
  void run_start(const RunFacts& f) override { facts_ = f; }
  void step_end(const StepRecord& r) override {
    all_.add(r.phases);
    if (secs(last_print_, Clock::now()) < 1.0 && !r.epoch_end) return;
    last_print_ = Clock::now();
    const double rate = (r.step - facts_.start) * facts_.global_batch / all_.total();
    const int64_t epochs = (facts_.total + facts_.steps_per_epoch - 1) / facts_.steps_per_epoch;
    char line[256];
    std::snprintf(
        line, sizeof line, "epoch %lld/%lld step %lld/%lld loss %.4f lr %.4g %.0f img/s ETA %s",
        static_cast<long long>(r.epoch + 1), static_cast<long long>(epochs),
        static_cast<long long>(r.step), static_cast<long long>(facts_.total), r.loss, r.lr, rate,
        eta_str((facts_.total - r.step) * facts_.global_batch / rate).c_str());
    log_progress(line, r.epoch_end);
  }

 private:
  RunFacts facts_;
  Phases all_;
  Clock::time_point last_print_ = Clock::now();
};

nlohmann::json eval_json(const EvalRecord& r) {
  const EvalResult& e = *r.result;
  return {{"schema", kRunRecordSchema},
          {"epoch", r.epoch},
          {"step", r.step},
          {"top1", e.top1},
          {"top5", e.top5},
          {"loss", e.loss},
          {"samples", e.samples},
          {"seconds", e.seconds}};
}

class EvalsLog : public TrainHook {
 public:
  explicit EvalsLog(std::string dir) : dir_(std::move(dir)) {}
  void run_start(const RunFacts& f) override {
    log_ = JsonlWriter(dir_ + "/evals.jsonl", f.start > 0);
  }
  void evaluated(const EvalRecord& r) override {
    nlohmann::json e = eval_json(r);
    log_.write(e);
    history_.push_back(e);
  }
  void run_end(nlohmann::json& summary) override { summary["history"] = history_; }

 private:
  std::string dir_;
  JsonlWriter log_;
  nlohmann::json history_ = nlohmann::json::array();
};

class StatusProgress : public TrainHook {
 public:
  explicit StatusProgress(StatusFile& s) : status_(s) {}
  void run_start(const RunFacts& f) override {
    status_.progress(f.start);
    status_.checkpointed(f.start);
  }
  void step_end(const StepRecord& r) override { status_.progress(r.step); }
  void checkpointed(int64_t step) override { status_.checkpointed(step); }

 private:
  StatusFile& status_;
};
}  // namespace

std::unique_ptr<TrainHook> steps_log_hook(const std::string& run_dir) {
  return std::make_unique<StepsLog>(run_dir);
}
std::unique_ptr<TrainHook> progress_hook() {
  return std::make_unique<Progress>();
}
std::unique_ptr<TrainHook> evals_log_hook(const std::string& run_dir) {
  return std::make_unique<EvalsLog>(run_dir);
}
std::unique_ptr<TrainHook> status_hook(StatusFile& status) {
  return std::make_unique<StatusProgress>(status);
}

}  // namespace scaledl
