// The training loop.
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

#include "core/device_memory.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/stop_signal.h"
#include "core/threads.h"
#include "data/loader.h"
#include "data/source.h"
#include "models/models.h"
#include "ops/ops.h"
#include "optim/schedule.h"
#include "optim/lars.h"
#include "optim/loss_scaler.h"
#include "optim/sgd.h"
#include "telemetry/jsonl.h"
#include "telemetry/run_status.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/evaluator.h"
#include "train/run_setup.h"
#include "train/stopping.h"

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

// comm: gradient communication the step waited for after backward (not hidden by overlap).
// device: on a GPU the host only queues work; this is the wait for the step's queued work at
// its end (the forward, backward and optimizer phases are then the host's share).
struct Phases {
  double data = 0, forward = 0, backward = 0, comm = 0, optimizer = 0, device = 0;
  double total() const { return data + forward + backward + comm + optimizer + device; }
  void add(const Phases& o) {
    data += o.data, forward += o.forward, backward += o.backward, comm += o.comm;
    optimizer += o.optimizer, device += o.device;
  }
};

// SGD or LARS behind one step() and one checkpointable state.
class Optimizer {
 public:
  Optimizer(Net& net, const TrainConfig& cfg) {
    if (cfg.optimizer == "lars") {
      LarsConfig lc;
      lc.eta = cfg.lars_eta;
      lc.momentum = cfg.momentum;
      lc.nesterov = cfg.nesterov;
      lc.weight_decay = cfg.weight_decay;
      lars_ = std::make_unique<Lars>(net, lc);
      return;
    }
    SgdConfig sc;
    sc.momentum = cfg.momentum;
    sc.nesterov = cfg.nesterov;
    sc.weight_decay = cfg.weight_decay;
    sc.decay_norm_and_bias = !cfg.no_decay_norm_bias;
    sgd_ = std::make_unique<Sgd>(net, sc);
  }
  // grad_scale: 1 / the loss scale the gradients carry.
  void step(float lr, float grad_scale) {
    lars_ ? lars_->step(lr, grad_scale) : sgd_->step(lr, grad_scale);
  }
  const OptimizerState& state() const { return lars_ ? lars_->state() : sgd_->state(); }

 private:
  std::unique_ptr<Sgd> sgd_;
  std::unique_ptr<Lars> lars_;
};

nlohmann::json eval_json(const EvalResult& e, int64_t epoch, int64_t step) {
  return {{"epoch", epoch}, {"step", step}, {"top1", e.top1}, {"top5", e.top5},
          {"loss", e.loss}, {"samples", e.samples}, {"seconds", e.seconds}};
}

// The job; `status` is set (rank 0) once the run folder is this run's, for run_training's
// failure record.
nlohmann::json train(const TrainConfig& cfg, std::unique_ptr<StatusFile>& status) {
  auto wall0 = Clock::now();
  DataParallel dp(cfg);
  const bool lead = dp.lead();  // rank 0 writes the run's files
  // After MPI's start: the handlers are ours. A signal from here on stops at a step boundary.
  StopSignals signals(parse_stop_signals(cfg.stop_signals));
  if (cfg.requeue_on_signal && !std::getenv("SLURM_JOB_ID"))
    throw Error("config", "--requeue-on-signal needs a Slurm job (SLURM_JOB_ID is not set); "
                          "submit with sbatch or drop the flag");
  RunSetup run = prepare_run(cfg, dp.rank(), dp.world(), dp.device());
  Net& net = *run.net;
  const int64_t global_batch = cfg.batch * dp.world();
  const int64_t bpe = run.train_loader->batches_per_epoch();
  const int64_t total = cfg.steps > 0 ? cfg.steps : cfg.epochs * bpe;
  const int64_t epochs = (total + bpe - 1) / bpe;

  Schedule sched;
  sched.kind = parse_schedule_kind(cfg.schedule);
  // Goyal et al.: the learning rate grows with the global batch (warmup keeps the start stable).
  sched.base_lr = cfg.lr_scaling == "linear"
                      ? cfg.lr * static_cast<float>(global_batch) / static_cast<float>(cfg.lr_base_batch)
                      : cfg.lr;
  sched.warmup_steps = static_cast<int64_t>(cfg.warmup_epochs * bpe);
  sched.total_steps = total;
  for (int64_t e : cfg.milestones) sched.milestones.push_back(e * bpe);

  Optimizer opt(net, cfg);

  // f16 gradients need loss scaling; f32, tf32 and bf16 (f32's exponent range) do not.
  LossScalerConfig lsc;
  lsc.enabled = cfg.precision == "fp16";
  LossScaler scaler(lsc);
  Rng rng(cfg.seed);
  int64_t start = 0;
  if (!run.resume_path.empty()) {
    CheckpointInfo info = load_checkpoint(run.resume_path, net, &opt.state());
    start = info.step;
    rng.set_state(info.rng_state);
    if (info.loss_scale > 0) scaler.restore(info.loss_scale, info.loss_scale_clean_steps);
    if (start > total)
      throw Error("train", run.resume_path + " is at step " + std::to_string(start) +
                               ", past this run's " + std::to_string(total) +
                               " steps; raise --epochs or --steps");
    log_info("resumed from " + run.resume_path + " at step " + std::to_string(start));
  }

  dp.check_agreement({bpe, total, start, net.num_params(), cfg.eval ? 1 : 0,
                      static_cast<int64_t>(cfg.bucket_mb * 1e6), cfg.log_every,
                      cfg.checkpoint_every},
                     "the run's shape (steps per epoch, steps, start step, parameters, eval, "
                     "bucket size, log and checkpoint intervals)");
  dp.attach(net);
  const std::string dir = cfg.run_dir;
  if (lead) {
    status = std::make_unique<StatusFile>(
        dir, cfg.heartbeat,
        nlohmann::json{{"steps_planned", total}, {"world_size", dp.world()}, {"model", cfg.model}});
    status->progress(start);
    status->checkpointed(start);
    // A collective that times out ends the job without unwinding: the run is marked failed first.
    set_fatal_hook([&status, &cfg](const std::string& line) { record_failure(cfg, *status, line); });
  }
  JsonlWriter steps_log, evals_log;
  if (lead) {
    steps_log = JsonlWriter(dir + "/steps.jsonl", start > 0);
    evals_log = JsonlWriter(dir + "/evals.jsonl", start > 0);
  }
  CheckpointInfo ck = run.checkpoint_info;
  const std::string ck_path = dir + "/checkpoint.safetensors";
  auto save = [&](int64_t step) {
    ck.step = step;
    ck.epoch = step / bpe;
    ck.rng_state = rng.state();
    ck.loss_scale = scaler.enabled() ? scaler.scale() : 0.f;
    ck.loss_scale_clean_steps = scaler.clean_steps();
    dp.average_buffers(net);  // rank 0 saves the job's model, not its own statistics
    if (lead) save_checkpoint(ck_path, net, &opt.state(), ck);
    if (status) status->checkpointed(step);
    dp.barrier("barrier after rank 0's checkpoint", 3600);
  };

  Loader& loader = *run.train_loader;
  const Device dev = net.device();
  Tensor loss = Tensor::empty({1}, DType::f32, dev);
  Tensor dlogits = Tensor::empty({cfg.batch, net.output_shape()[0]}, DType::f32, dev);
  Tensor labels_dev = dev.is_cpu() ? Tensor() : Tensor::empty({cfg.batch}, DType::s32, dev);

  const int64_t end = cfg.stop_after > 0 ? std::min(total, start + cfg.stop_after) : total;
  loader.seek(start, end);
  // Warm-up steps (first-touch page faults, primitive creation) excluded from images/s: a tenth
  // of the run, at least one when there are two or more steps, at most five.
  const int64_t warm = std::clamp<int64_t>((end - start) / 10, end - start > 1 ? 1 : 0, 5);
  Phases all, interval, measured;
  int64_t measured_steps = 0, interval_steps = 0;
  double interval_loss = 0, last_loss = 0;
  auto last_print = Clock::now();
  EvalResult last_eval;
  bool have_eval = false;
  nlohmann::json history = nlohmann::json::array();
  double eval_seconds = 0;
  net.set_profiling(cfg.profile);
  // Stopping: the ranks vote with every step's loss; an evaluation a signal cuts short counts too.
  bool stopping = false;
  int stop_ranks = 0;
  const std::function<bool()> signalled = [] { return StopSignals::received() != 0; };
  int64_t done = end;  // the step the run reached

  const Batch* ahead = nullptr;
  for (int64_t step = start; step < end; ++step) {
    const int64_t epoch = step / bpe, index = step % bpe;
    Phases ph;
    auto t0 = Clock::now();
    // On a GPU the batch was fetched during the last step and its copy is under way.
    const Batch& batch = ahead ? *ahead : loader.next();
    ahead = nullptr;
    const Tensor& x = batch.x;
    if (!dev.is_cpu()) labels_dev.copy_from(batch.labels);
    const Tensor& labels = dev.is_cpu() ? batch.labels : labels_dev;
    auto t1 = Clock::now();
    RunContext ctx;
    ctx.training = true;
    ctx.seed = rng.next_u64();
    ctx.step = step;
    const Tensor& logits = net.forward(x, ctx);
    ops::softmax_cross_entropy(logits, labels, cfg.label_smoothing, loss, dlogits);
    auto t2 = Clock::now();
    dp.begin_step();
    const float scale = scaler.scale();
    net.backward(dlogits, ctx, scale);
    auto t3 = Clock::now();
    dp.finish_step();
    auto t3c = Clock::now();
    // On a GPU the next batch's copy overlaps what is still queued (before fp16's overflow
    // check waits for the device).
    if (!dev.is_cpu() && step + 1 < end) {
      ahead = &loader.next();
      net.stage_input(ahead->x);
    }
    auto t3d = Clock::now();
    const float lr = lr_at(sched, step);
    // After the allreduce every rank holds the same gradients, so every rank skips alike.
    if (scaler.update(!scaler.enabled() || ops::all_finite(net.flat_grads())))
      opt.step(lr, 1.f / scale);
    auto t4 = Clock::now();
    if (!dev.is_cpu()) device_synchronize(dev);
    ph.data = secs(t0, t1) + secs(t3c, t3d);
    ph.forward = secs(t1, t2), ph.backward = secs(t2, t3);
    ph.comm = secs(t3, t3c), ph.optimizer = secs(t3d, t4), ph.device = secs(t4, Clock::now());
    // The job's mean loss: every rank sees the same value, so a divergence stops every rank.
    // Whether a rank got a stop signal rides the same allreduce.
    const DataParallel::StepVote vote = dp.vote(loss.at(0), signalled());
    last_loss = vote.loss;
    stop_ranks = vote.stop_ranks;
    stopping = stop_ranks > 0;
    if (status) status->progress(step + 1);
    if (!std::isfinite(last_loss))
      throw Error("train", "loss is " + std::to_string(last_loss) + " at step " +
                               std::to_string(step) + " (lr " + std::to_string(lr) +
                               "); lower --lr or raise --warmup-epochs");
    all.add(ph);
    interval.add(ph);
    interval_loss += last_loss;
    ++interval_steps;
    if (step - start >= warm) measured.add(ph), ++measured_steps;
    if (step - start + 1 == warm) net.reset_node_times();  // profile the measured steps only

    const bool epoch_end = index == bpe - 1 || step + 1 == total;
    if ((step + 1) % cfg.log_every == 0 || epoch_end) {
      const double n = static_cast<double>(interval_steps);
      const LoaderStats ls = loader.stats();
      steps_log.write({{"step", step + 1}, {"epoch", epoch}, {"loss", interval_loss / n},
                       {"lr", lr}, {"images_per_sec", n * global_batch / interval.total()},
                       {"data_s", interval.data / n}, {"forward_s", interval.forward / n},
                       {"backward_s", interval.backward / n},
                       {"comm_exposed_s", interval.comm / n},
                       {"optimizer_s", interval.optimizer / n},
                       {"device_wait_s", interval.device / n},
                       {"data_bytes_read_total", ls.bytes_read},
                       {"data_samples_total", ls.samples},
                       {"prefetch_depth", ls.mean_queue_depth()},
                       {"corrupt_skipped", ls.corrupt_skipped}});
      interval = Phases{}, interval_steps = 0, interval_loss = 0;
    }
    if (secs(last_print, Clock::now()) >= 1.0 || epoch_end) {
      last_print = Clock::now();
      const double rate = (step + 1 - start) * global_batch / all.total();
      char line[256];
      std::snprintf(line, sizeof line,
                    "epoch %lld/%lld step %lld/%lld loss %.4f lr %.4g %.0f img/s ETA %s",
                    static_cast<long long>(epoch + 1), static_cast<long long>(epochs),
                    static_cast<long long>(step + 1), static_cast<long long>(total), last_loss,
                    lr, rate, eta_str((total - step - 1) * global_batch / rate).c_str());
      log_progress(line, epoch_end);
    }
    if (epoch_end && cfg.eval && !stopping) {
      dp.average_buffers(net);  // every rank evaluates the same model
      last_eval = evaluate(net, *run.test_loader, signalled);
      dp.reduce(last_eval);  // each rank evaluated its share
      eval_seconds += last_eval.seconds;
    }
    if (epoch_end && cfg.eval && last_eval.interrupted) {
      stopping = true;  // not a result: the checkpoint below, then stop
      last_eval = EvalResult{};
    } else if (epoch_end && cfg.eval && !stopping) {
      have_eval = true;
      nlohmann::json e = eval_json(last_eval, epoch + 1, step + 1);
      evals_log.write(e);
      history.push_back(e);
      char line[160];
      std::snprintf(line, sizeof line, "eval epoch %lld: top-1 %.2f%% top-5 %.2f%% loss %.4f (%lld images, %.1fs)",
                    static_cast<long long>(epoch + 1), last_eval.top1, last_eval.top5,
                    last_eval.loss, static_cast<long long>(last_eval.samples), last_eval.seconds);
      log_info(line);
    }
    if (epoch_end || step + 1 == end || stopping ||
        (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0))
      save(step + 1);
    if (stopping) {
      done = step + 1;
      break;
    }
  }
  if (!have_eval && cfg.eval && !stopping) {
    dp.average_buffers(net);
    last_eval = evaluate(net, *run.test_loader);
    dp.reduce(last_eval);
    eval_seconds += last_eval.seconds;
    history.push_back(eval_json(last_eval, (end + bpe - 1) / bpe, end));
  }
  if (start == end) save(end);

  const LoaderStats ls = loader.stats();
  nlohmann::json data_json = {
      {"source", loader.source().describe()}, {"loader_threads", loader.options().threads},
      {"prefetch", loader.options().prefetch}, {"shuffle", shuffle_str(loader.options().shuffle)},
      {"bytes_read", ls.bytes_read}, {"samples_decoded", ls.samples},
      {"wait_seconds", ls.wait_seconds}, {"mean_prefetch_depth", ls.mean_queue_depth()},
      {"corrupt_skipped", ls.corrupt_skipped}, {"corrupt", ls.corrupt}};
  if (run.test_loader) {
    const LoaderStats es = run.test_loader->stats();
    data_json["eval_corrupt_skipped"] = es.corrupt_skipped;
    data_json["eval_corrupt"] = es.corrupt;
  }
  const double ips = measured_steps ? measured_steps * global_batch / measured.total() : 0.0;
  const bool identical = dp.params_identical(net);
  if (!identical)
    log_warn("the ranks' parameters differ at the end of the run (checksums of the flat "
             "parameter buffer); rank 0's checkpoint is the one saved");
  nlohmann::json summary = {
      {"model", cfg.model}, {"data", cfg.data}, {"top1", last_eval.top1},
      {"top5", last_eval.top5}, {"eval_loss", last_eval.loss}, {"eval_samples", last_eval.samples},
      {"status", stopping ? "stopped" : "completed"},
      {"epochs", static_cast<double>(done) / bpe}, {"steps", done},
      {"steps_planned", total}, {"steps_this_run", done - start}, {"resumed_from_step", start},
      {"wall_seconds", secs(wall0, Clock::now())}, {"images_per_sec", ips},
      {"images_per_sec_steps", measured_steps}, {"final_loss", last_loss},
      {"world_size", dp.world()}, {"rank", dp.rank()}, {"batch", cfg.batch},
      {"global_batch", global_batch},
      {"params_identical_across_ranks", identical},
      {"distributed", dp.json(ips, cfg.baseline_ips)},
      {"params", net.num_params()}, {"gflops_per_image", net.flops() / 1e9},
      {"threads", num_threads()}, {"device", cfg.device}, {"precision", cfg.precision},
      {"layout", cfg.layout}, {"checkpoint", ck_path},
      {"loss_scale", scaler.enabled() ? nlohmann::json{{"final", scaler.scale()},
                                                        {"skipped_steps", scaler.skipped()},
                                                        {"growths", scaler.growths()}}
                                      : nlohmann::json(nullptr)}, {"data_pipeline", data_json}, {"history", history},
      {"seconds", {{"data", all.data}, {"forward", all.forward}, {"backward", all.backward},
                   {"comm_exposed", all.comm}, {"optimizer", all.optimizer},
                   {"device_wait", all.device},
                   {"eval", eval_seconds}}},
      {"config", cfg.to_json()}};
  if (!cfg.eval)  // no evaluation ran: no accuracy to report
    for (const char* k : {"top1", "top5", "eval_loss"}) summary[k] = nullptr;
  if (!dev.is_cpu()) {  // how close the batch is to the largest that fits
    const DeviceMemoryStats m = device_memory_stats(dev);
    summary["device_memory"] = {{"peak_mib", m.peak_in_use / 1048576.0},
                                {"cached_mib", m.cached / 1048576.0},
                                {"cuda_mallocs", m.device_allocs}};
  }
  if (cfg.profile) summary["profile"] = profile_json(net, measured_steps);
  if (stopping) {
    const int sig = StopSignals::received();
    summary["stopped"] = {{"signal", sig ? signal_name(sig) : "a signal to another rank"},
                          {"step", done}, {"ranks_signalled", stop_ranks}};
  }
  if (lead) write_json_atomic(dir + "/summary.json", summary);
  if (!stopping) {
    if (status) status->finish("completed");
  } else {
    nlohmann::json how = summary["stopped"];
    if (lead && cfg.requeue_on_signal) {
      const std::string problem = requeue_slurm_job();
      how["requeued"] = problem.empty();
      if (problem.empty()) log_info("requeued Slurm job " + std::string(std::getenv("SLURM_JOB_ID")) +
                                    ": it resumes from step " + std::to_string(done));
      else log_warn("could not requeue: " + problem + "; resubmit with --resume auto");
      if (!problem.empty()) how["requeue_error"] = problem;
    }
    if (status) status->finish("stopped", how);
    // Every rank leaves together once rank 0's records are written (a launcher may end the
    // others when one exits with the stop code).
    dp.barrier("barrier after the stopped run's records", 600);
  }
  set_fatal_hook({});
  return summary;
}
}  // namespace

nlohmann::json run_training(const TrainConfig& cfg) {
  std::unique_ptr<StatusFile> status;
  try {
    return train(cfg, status);
  } catch (const std::exception& e) {
    set_fatal_hook({});
    if (status) record_failure(cfg, *status, e.what());
    throw;
  }
}

}  // namespace scaledl
