// The Trainer: joins the job, prepares the run, then a loop of steps with evaluation and
// checkpoints at their points, a stop vote at every step, and hooks that record it all.
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

#include "core/device_memory.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/stop_signal.h"
#include "core/threads.h"
#include "core/trace.h"
#include "data/loader.h"
#include "ops/ops.h"
#include "optim/loss_scaler.h"
#include "optim/schedule.h"
#include "telemetry/jsonl.h"
#include "telemetry/run_status.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/evaluator.h"
#include "train/hooks.h"
#include "train/log_hooks.h"
#include "train/monitor_hook.h"
#include "train/optimizer.h"
#include "train/run_setup.h"
#include "train/stopping.h"
#include "train/telemetry_hooks.h"
#include "train/trace_hook.h"

namespace scaledl {

namespace {
using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool signalled() {
  return StopSignals::received() != 0;
}

// Which ops run natively in the net's compute dtype on its backend and which emulate it (the
// host backends' f16/bf16 emulation: f32 math, outputs rounded).
nlohmann::json kernels_json(const Net& net) {
  const Backend b = backend_for(net.device());
  nlohmann::json native = nlohmann::json::array(), emulated = nlohmann::json::array();
  for (std::string_view op : op_names()) {
    const Support s = support(op, b, net.compute_dtype());
    if (s == Support::native) native.push_back(op);
    if (s == Support::emulated) emulated.push_back(op);
  }
  return {{"backend", backend_name(b)},
          {"dtype", dtype_name(net.compute_dtype())},
          {"native", native},
          {"emulated", emulated}};
}

class Trainer {
 public:
  // Joins the job, prepares the run (folder, data, model), resumes, attaches gradient sync.
  // `status`, set on rank 0 once the run folder is this run's, outlives the Trainer so that
  // run_training can record a failure.
  Trainer(const TrainConfig& cfg, std::unique_ptr<StatusFile>& status);
  void add_hook(std::unique_ptr<TrainHook> h) { hooks_.push_back(std::move(h)); }
  nlohmann::json run();
  // The records of how the run ended (summary.json, status.json) and, after a stop, the
  // requeue and a barrier so that every rank leaves together once they are written.
  void finish(nlohmann::json& summary, StatusFile* status);

 private:
  Schedule schedule() const;
  void resume();
  // One step: forward, loss, backward with overlapped gradient sync, optimizer. Returns the
  // phases; sets loss_ (the job's mean) and stop_ranks_ (the ranks that got a stop signal).
  Phases train_step(int64_t step, float lr);
  void evaluate_epoch(int64_t epoch, int64_t step);
  void save(int64_t step);
  nlohmann::json summary(double wall_s);
  template <class F>
  void each_hook(F f) {
    for (auto& h : hooks_) f(*h);
  }

  const TrainConfig& cfg_;
  Clock::time_point wall0_ = Clock::now();
  DataParallel dp_;
  StopSignals signals_;  // after MPI's start: the handlers are ours
  RunSetup run_;
  Net& net_;
  RunFacts facts_;
  Schedule sched_;
  Optimizer opt_;
  LossScaler scaler_;
  Rng rng_;
  CheckpointInfo ck_;
  std::string ck_path_;
  std::vector<std::unique_ptr<TrainHook>> hooks_;
  Tensor loss_t_, dlogits_, labels_dev_;
  const Batch* ahead_ = nullptr;  // GPU: the next batch, fetched during this step
  float loss_ = 0;
  int stop_ranks_ = 0;
  bool stopping_ = false;
  EvalResult last_eval_;
  bool have_eval_ = false;
  bool reached_target_ = false;  // --target-accuracy: an evaluation reached it
  double target_seconds_ = 0;
  double eval_seconds_ = 0;
  Phases all_, measured_;
  int64_t measured_steps_ = 0, done_ = 0;
};

LossScalerConfig scaler_config(const TrainConfig& cfg) {
  LossScalerConfig c;
  c.enabled = cfg.precision ==
              TrainPrecision::fp16;  // f16 gradients need loss scaling; f32/tf32/bf16 do not
  return c;
}

RunSetup prepare_checked(const TrainConfig& cfg, const DataParallel& dp) {
  if (cfg.requeue_on_signal && !std::getenv("SLURM_JOB_ID"))
    throw Error("config",
                "--requeue-on-signal needs a Slurm job (SLURM_JOB_ID is not set); "
                "submit with sbatch or drop the flag");
  return prepare_run(cfg, dp.rank(), dp.world(), dp.device());
}

Trainer::Trainer(const TrainConfig& cfg, std::unique_ptr<StatusFile>& status)
    : cfg_(cfg),
      dp_(cfg),
      signals_(parse_stop_signals(cfg.stop_signals)),
      run_(prepare_checked(cfg, dp_)),
      net_(*run_.net),
      opt_(net_, cfg),
      scaler_(scaler_config(cfg)),
      rng_(cfg.seed),
      ck_(run_.checkpoint_info),
      ck_path_(cfg.run_dir + "/checkpoint.safetensors") {
  const int64_t bpe = run_.train_loader->batches_per_epoch();
  facts_.config = &cfg_;
  facts_.steps_per_epoch = bpe;
  facts_.total = cfg.steps > 0 ? cfg.steps : cfg.epochs * bpe;
  facts_.global_batch = cfg.batch * dp_.world();
  facts_.world = dp_.world();
  facts_.train_samples = run_.train_loader->source().size();
  facts_.eval_samples = run_.test_loader ? run_.test_loader->source().size() : 0;
  sched_ = schedule();
  facts_.base_lr = sched_.base_lr;
  facts_.warmup_steps = sched_.warmup_steps;
  resume();
  facts_.end =
      cfg.stop_after > 0 ? std::min(facts_.total, facts_.start + cfg.stop_after) : facts_.total;
  dp_.check_agreement(
      {bpe, facts_.total, facts_.start, net_.num_params(), cfg.eval ? 1 : 0,
       static_cast<int64_t>(cfg.bucket_mb * 1e6), cfg.log_every, cfg.checkpoint_every},
      "the run's shape (steps per epoch, steps, start step, parameters, eval, "
      "bucket size, log and checkpoint intervals)");
  dp_.attach(net_);
  // Every rank checks the MLPerf settings (a closed run the rules reject stops on every rank).
  std::unique_ptr<TrainHook> mllog = cfg.mllog ? mllog_hook(cfg, facts_) : nullptr;
  if (dp_.lead()) {  // rank 0 writes the run's files
    status = std::make_unique<StatusFile>(
        cfg.run_dir, cfg.heartbeat,
        nlohmann::json{
            {"steps_planned", facts_.total}, {"world_size", dp_.world()}, {"model", cfg.model}});
    // A collective that times out ends the job without unwinding: the run is marked failed first.
    set_fatal_hook(
        [&status, &cfg](const std::string& line) { record_failure(cfg, *status, line); });
    add_hook(steps_log_hook(cfg.run_dir));
  }
  add_hook(progress_hook());
  TrainHook* tb = nullptr;
  if (dp_.lead()) {
    add_hook(evals_log_hook(cfg.run_dir));
    add_hook(status_hook(*status));
    if (mllog) add_hook(std::move(mllog));
    if (cfg.tensorboard) add_hook(tensorboard_hook(cfg)), tb = hooks_.back().get();
  }
  // Every rank samples its own node; rank 0's samples also go to TensorBoard.
  if (cfg.monitor) {
    MonitorListener to_tb;
    if (tb)
      to_tb = [tb](const MonitorSample& s, int64_t step) {
        tensorboard_system_sample(*tb, s, step);
      };
    add_hook(monitor_hook(cfg, dp_.rank(), {.interval_s = cfg.monitor_interval}, to_tb));
  }
  // Every rank its own file; --profile's tables come from the trace.
  if (cfg.trace || cfg.profile) add_hook(trace_hook(cfg, dp_.rank()));
  const Device dev = net_.device();
  loss_t_ = Tensor::empty({1}, DType::f32, dev);
  dlogits_ = Tensor::empty({cfg.batch, net_.output_shape()[0]}, DType::f32, dev);
  if (!dev.is_cpu()) labels_dev_ = Tensor::empty({cfg.batch}, DType::s32, dev);
}

Schedule Trainer::schedule() const {
  Schedule s;
  s.kind = cfg_.schedule;
  // Goyal et al.: the learning rate grows with the global batch (warmup keeps the start stable).
  s.base_lr = cfg_.lr_scaling == LrScaling::linear
                  ? cfg_.lr * static_cast<float>(facts_.global_batch) /
                        static_cast<float>(cfg_.lr_base_batch)
                  : cfg_.lr;
  s.warmup_steps = static_cast<int64_t>(cfg_.warmup_epochs * facts_.steps_per_epoch);
  s.total_steps = facts_.total;
  s.end_lr = cfg_.end_lr;
  for (int64_t e : cfg_.milestones) s.milestones.push_back(e * facts_.steps_per_epoch);
  return s;
}

void Trainer::resume() {
  if (run_.resume_path.empty()) return;
  CheckpointInfo info = load_checkpoint(run_.resume_path, net_, &opt_.state());
  facts_.start = info.step;
  rng_.set_state(info.rng_state);
  if (info.loss_scale > 0) scaler_.restore(info.loss_scale, info.loss_scale_clean_steps);
  if (facts_.start > facts_.total)
    throw Error("train", run_.resume_path + " is at step " + std::to_string(facts_.start) +
                             ", past this run's " + std::to_string(facts_.total) +
                             " steps; raise --epochs or --steps");
  log_info("resumed from " + run_.resume_path + " at step " + std::to_string(facts_.start));
}

void Trainer::save(int64_t step) {
  TraceSpan span("checkpoint", "phase");
  ck_.step = step;
  ck_.epoch = step / facts_.steps_per_epoch;
  ck_.rng_state = rng_.state();
  ck_.loss_scale = scaler_.enabled() ? scaler_.scale() : 0.f;
  ck_.loss_scale_clean_steps = scaler_.clean_steps();
  dp_.average_buffers(net_);  // rank 0 saves the job's model, not its own statistics
  if (dp_.lead()) save_checkpoint(ck_path_, net_, &opt_.state(), ck_);
  each_hook([&](TrainHook& h) { h.checkpointed(step); });
  dp_.barrier("barrier after rank 0's checkpoint", 3600);
}

Phases Trainer::train_step(int64_t step, float lr) {
  Loader& loader = *run_.train_loader;
  const Device dev = net_.device();
  Phases ph;
  auto t0 = Clock::now();
  // On a GPU the batch was fetched during the last step and its copy is under way.
  const Batch& batch = ahead_ ? *ahead_ : loader.next();
  ahead_ = nullptr;
  if (!dev.is_cpu()) labels_dev_.copy_from(batch.labels);
  const Tensor& labels = dev.is_cpu() ? batch.labels : labels_dev_;
  auto t1 = Clock::now();
  RunContext ctx;
  ctx.training = true;
  ctx.seed = rng_.next_u64();
  ctx.step = step;
  const Tensor& logits = net_.forward(batch.x, ctx);
  ops::softmax_cross_entropy(logits, labels, cfg_.label_smoothing, loss_t_, dlogits_);
  auto t2 = Clock::now();
  dp_.begin_step();
  const float scale = scaler_.scale();
  net_.backward(dlogits_, ctx, scale);
  auto t3 = Clock::now();
  dp_.finish_step();
  auto t3c = Clock::now();
  // On a GPU the next batch's copy overlaps what is still queued (before fp16's overflow
  // check waits for the device).
  if (!dev.is_cpu() && step + 1 < facts_.end) {
    ahead_ = &loader.next();
    net_.stage_input(ahead_->x);
  }
  auto t3d = Clock::now();
  // After the allreduce every rank holds the same gradients, so every rank skips alike.
  if (scaler_.update(!scaler_.enabled() || ops::all_finite(net_.flat_grads())))
    opt_.step(lr, 1.f / scale);
  auto t4 = Clock::now();
  if (!dev.is_cpu()) device_synchronize(dev);
  const auto t5 = Clock::now();
  ph.data = secs(t0, t1) + secs(t3c, t3d);
  ph.forward = secs(t1, t2), ph.backward = secs(t2, t3);
  ph.comm = secs(t3, t3c), ph.optimizer = secs(t3d, t4), ph.device = secs(t4, t5);
  if (trace_enabled()) {  // the step's phases on the training thread's track
    trace_record("data wait", "phase", t0, t1);
    trace_record("forward", "phase", t1, t2);
    trace_record("backward", "phase", t2, t3);
    trace_record("comm wait", "phase", t3, t3c);
    trace_record("optimizer", "phase", t3d, t4);
    if (!dev.is_cpu()) {  // the next batch's fetch, the wait for the step's queued work
      trace_record("next batch", "phase", t3c, t3d);
      trace_record("device wait", "phase", t4, t5);
    }
  }
  // The job's mean loss: every rank sees the same value, so a divergence stops every rank.
  // Whether a rank got a stop signal rides the same allreduce.
  const DataParallel::StepVote vote = dp_.vote(loss_t_.at(0), signalled());
  loss_ = vote.loss;
  stop_ranks_ = vote.stop_ranks;
  stopping_ = stop_ranks_ > 0;
  if (!std::isfinite(loss_))
    throw Error("train", "loss is " + std::to_string(loss_) + " at step " + std::to_string(step) +
                             " (lr " + std::to_string(lr) +
                             "); lower --lr or raise --warmup-epochs");
  return ph;
}

// Evaluates the job's model on the test split; a stop signal during it makes it no result.
void Trainer::evaluate_epoch(int64_t epoch, int64_t step) {
  TraceSpan span("evaluation", "phase");
  dp_.average_buffers(net_);  // every rank evaluates the same model
  each_hook([&](TrainHook& h) { h.evaluation_start(epoch); });
  EvalResult r = evaluate(net_, *run_.test_loader, signalled);
  dp_.reduce(r);  // each rank evaluated its share
  eval_seconds_ += r.seconds;
  if (r.interrupted) {
    stop_ranks_ = r.interrupted;  // the ranks a signal reached during the evaluation
    stopping_ = true;
    return;
  }
  last_eval_ = r;
  have_eval_ = true;
  // Every rank holds the reduced result, so every rank reaches the target at the same step.
  if (cfg_.target_accuracy > 0 && r.top1 >= cfg_.target_accuracy && !reached_target_) {
    reached_target_ = true;
    target_seconds_ = secs(wall0_, Clock::now());
  }
  const EvalRecord rec{epoch, step, &last_eval_};
  each_hook([&](TrainHook& h) { h.evaluated(rec); });
  char line[160];
  std::snprintf(line, sizeof line,
                "eval epoch %lld: top-1 %.2f%% top-5 %.2f%% loss %.4f (%lld images, %.1fs)",
                static_cast<long long>(epoch), r.top1, r.top5, r.loss,
                static_cast<long long>(r.samples), r.seconds);
  log_info(line);
}

nlohmann::json Trainer::run() {
  const int64_t start = facts_.start, end = facts_.end, bpe = facts_.steps_per_epoch;
  each_hook([&](TrainHook& h) { h.run_start(facts_); });
  Loader& loader = *run_.train_loader;
  loader.seek(start, end);
  // Warm-up steps (first-touch page faults, primitive creation) excluded from images/s: a tenth
  // of the run, at least one when there are two or more steps, at most five.
  const int64_t warm = std::clamp<int64_t>((end - start) / 10, end - start > 1 ? 1 : 0, 5);
  net_.set_profiling(cfg_.profile);
  done_ = end;
  for (int64_t step = start; step < end; ++step) {
    const float lr = lr_at(sched_, step);
    each_hook([&](TrainHook& h) { h.step_start(step); });
    const Phases ph = train_step(step, lr);
    all_.add(ph);
    if (step - start >= warm) measured_.add(ph), ++measured_steps_;
    if (step - start + 1 == warm) net_.reset_node_times();  // profile the measured steps only
    StepRecord rec;
    rec.step = step + 1;
    rec.epoch = step / bpe;
    rec.epoch_end = step % bpe == bpe - 1 || step + 1 == facts_.total;
    rec.loss = loss_;
    rec.lr = lr;
    rec.loss_scale = scaler_.enabled() ? scaler_.scale() : 0.f;
    rec.phases = ph;
    rec.loader = &loader;
    each_hook([&](TrainHook& h) { h.step_end(rec); });
    if (rec.epoch_end && cfg_.eval && !stopping_) evaluate_epoch(rec.epoch + 1, step + 1);
    if (rec.epoch_end || step + 1 == end || stopping_ || reached_target_ ||
        (cfg_.checkpoint_every > 0 && (step + 1) % cfg_.checkpoint_every == 0))
      save(step + 1);
    if (stopping_ || reached_target_) {
      // The vote counted the ranks whose signal came before their vote; SIGTERM sent to every
      // rank at once can reach one just after it. Counted again now that all ranks stop here.
      if (stopping_)
        stop_ranks_ = dp_.count_ranks(signalled(), "allreduce of the ranks a stop signal reached");
      done_ = step + 1;
      break;
    }
  }
  if (!have_eval_ && cfg_.eval && !stopping_)  // a run shorter than an epoch
    evaluate_epoch((end + bpe - 1) / bpe, end);
  if (start == end) save(end);
  nlohmann::json s = summary(secs(wall0_, Clock::now()));
  each_hook([&](TrainHook& h) { h.run_end(s); });
  return s;
}

nlohmann::json Trainer::summary(double wall_s) {
  const Loader& loader = *run_.train_loader;
  const LoaderStats ls = loader.stats();
  nlohmann::json data_json = {
      {"source", loader.source().describe()},  {"loader_threads", loader.options().threads},
      {"prefetch", loader.options().prefetch}, {"shuffle", shuffle_str(loader.options().shuffle)},
      {"bytes_read", ls.bytes_read},           {"samples_decoded", ls.samples},
      {"wait_seconds", ls.wait_seconds},       {"mean_prefetch_depth", ls.mean_queue_depth()},
      {"corrupt_skipped", ls.corrupt_skipped}, {"corrupt", ls.corrupt}};
  if (run_.test_loader) {
    const LoaderStats es = run_.test_loader->stats();
    data_json["eval_corrupt_skipped"] = es.corrupt_skipped;
    data_json["eval_corrupt"] = es.corrupt;
  }
  const int64_t gb = facts_.global_batch, start = facts_.start, bpe = facts_.steps_per_epoch;
  const double ips = measured_steps_ ? measured_steps_ * gb / measured_.total() : 0.0;
  const bool identical = dp_.params_identical(net_);
  if (!identical)
    log_warn(
        "the ranks' parameters differ at the end of the run (checksums of the flat "
        "parameter buffer); rank 0's checkpoint is the one saved");
  nlohmann::json summary = {
      {"schema", kRunRecordSchema},
      {"model", cfg_.model},
      {"data", cfg_.data},
      {"top1", last_eval_.top1},
      {"top5", last_eval_.top5},
      {"eval_loss", last_eval_.loss},
      {"eval_samples", last_eval_.samples},
      {"status", stopping_ ? "stopped" : "completed"},
      {"epochs", static_cast<double>(done_) / bpe},
      {"steps", done_},
      {"steps_planned", facts_.total},
      {"steps_this_run", done_ - start},
      {"resumed_from_step", start},
      {"wall_seconds", wall_s},
      {"images_per_sec", ips},
      {"images_per_sec_steps", measured_steps_},
      {"final_loss", loss_},
      {"world_size", dp_.world()},
      {"rank", dp_.rank()},
      {"batch", cfg_.batch},
      {"global_batch", gb},
      {"params_identical_across_ranks", identical},
      {"distributed", dp_.json(ips, cfg_.baseline_ips)},
      {"params", net_.num_params()},
      {"gflops_per_image", net_.flops() / 1e9},
      {"memory",
       {{"activation_bytes", net_.memory().activation_bytes},
        {"gradient_bytes", net_.memory().gradient_bytes},
        {"gradient_bytes_unplanned", net_.memory().gradient_bytes_unplanned},
        {"fused_bn_relu", net_.memory().fused_bn_relu}}},
      {"threads", num_threads()},
      {"device", cfg_.device},
      {"precision", enum_name(cfg_.precision)},
      {"kernels", kernels_json(net_)},
      {"layout", enum_name(cfg_.layout)},
      {"checkpoint", ck_path_},
      {"loss_scale", scaler_.enabled() ? nlohmann::json{{"final", scaler_.scale()},
                                                        {"skipped_steps", scaler_.skipped()},
                                                        {"growths", scaler_.growths()}}
                                       : nlohmann::json(nullptr)},
      {"data_pipeline", data_json},
      {"history", nlohmann::json::array()},
      {"seconds",
       {{"data", all_.data},
        {"forward", all_.forward},
        {"backward", all_.backward},
        {"comm_exposed", all_.comm},
        {"optimizer", all_.optimizer},
        {"device_wait", all_.device},
        {"eval", eval_seconds_}}},
      {"config", cfg_.to_json()}};
  if (!cfg_.eval)  // no evaluation ran: no accuracy to report
    for (const char* k : {"top1", "top5", "eval_loss"}) summary[k] = nullptr;
  const Device dev = net_.device();
  if (!dev.is_cpu()) {  // how close the batch is to the largest that fits
    const DeviceMemoryStats m = device_memory_stats(dev);
    summary["device_memory"] = {{"peak_mib", m.peak_in_use / 1048576.0},
                                {"cached_mib", m.cached / 1048576.0},
                                {"cuda_mallocs", m.device_allocs}};
  }
  if (cfg_.profile) summary["profile"] = profile_json(net_, measured_steps_);
  if (cfg_.target_accuracy >
      0)  // time to accuracy: from the process's start to that evaluation's end
    summary["time_to_accuracy"] = {
        {"target_top1", cfg_.target_accuracy},
        {"reached", reached_target_},
        {"seconds", reached_target_ ? nlohmann::json(target_seconds_) : nlohmann::json(nullptr)},
        {"step", reached_target_ ? nlohmann::json(done_) : nlohmann::json(nullptr)},
        {"epochs", reached_target_ ? nlohmann::json(static_cast<double>(done_) / bpe)
                                   : nlohmann::json(nullptr)}};
  if (stopping_) {
    const int sig = StopSignals::received();
    summary["stopped"] = {{"signal", sig ? signal_name(sig) : "a signal to another rank"},
                          {"step", done_},
                          {"ranks_signalled", stop_ranks_}};
  }
  return summary;
}

void Trainer::finish(nlohmann::json& summary, StatusFile* status) {
  const TrainConfig& cfg = cfg_;
  const bool lead = dp_.lead();
  if (lead) write_json_atomic(cfg.run_dir + "/summary.json", summary);
  if (summary["status"] != "stopped") {
    if (status) status->finish("completed");
    return;
  }
  nlohmann::json how = summary["stopped"];
  if (lead && cfg.requeue_on_signal) {
    const std::string problem = requeue_slurm_job();
    how["requeued"] = problem.empty();
    if (problem.empty())
      log_info("requeued Slurm job " + std::string(std::getenv("SLURM_JOB_ID")) +
               ": it resumes from step " + std::to_string(summary["steps"].get<int64_t>()));
    else
      log_warn("could not requeue: " + problem + "; resubmit with --resume auto");
    if (!problem.empty()) how["requeue_error"] = problem;
  }
  if (status) status->finish("stopped", how);
  // A launcher may end the other ranks when one exits with the stop code: leave together.
  set_fatal_hook({});  // the records are written: a timeout here must not rewrite them
  dp_.barrier("barrier after the stopped run's records", 600);
}
}  // namespace

nlohmann::json run_training(const TrainConfig& cfg) {
  std::unique_ptr<StatusFile> status;
  try {
    Trainer trainer(cfg, status);
    nlohmann::json summary = trainer.run();
    trainer.finish(summary, status.get());
    set_fatal_hook({});
    return summary;
  } catch (const std::exception& e) {
    set_fatal_hook({});
    if (status) record_failure(cfg, *status, e.what());
    throw;
  }
}

}  // namespace scaledl
