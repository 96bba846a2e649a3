// scaledl train: flags -> TrainConfig -> run_training; prints the summary's path.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include "cli/commands.h"
#include "train/trainer.h"

namespace scaledl::cli {

std::string default_run_dir(const std::string& model) {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + model + "-" + buf;
}

namespace {
// An option taking one of an enum's names, parsed here at the edge (one line naming the flag and
// the names otherwise).
template <class E>
CLI::Option* add_enum(CLI::App* c, const std::string& flag, E& v, const std::string& help) {
  return c
      ->add_option_function<std::string>(
          flag, [&v, flag](const std::string& s) { v = parse_enum<E>(s, flag); }, help)
      ->type_name("{" + enum_list<E>() + "}")
      ->default_str(enum_name(v));
}
}  // namespace

Runner add_train(CLI::App& app) {
  auto cfg = std::make_shared<TrainConfig>();
  CLI::App* c = app.add_subcommand("train", "Train a model; writes RUN_DIR/summary.json");
  TrainConfig& t = *cfg;
  c->add_option("--config", "JSON file of flag: value; flags given here override it");
  c->add_option("--model", t.model, "Model name (see scaledl models)")->capture_default_str();
  c->add_option("--data", t.data,
                "records:DIR, folder:DIR, csv:FILE, idx:DIR (Fashion-MNIST IDX), npy:FILE "
                "(float32 [N, C, H, W] inputs; labels from X.labels.npy for X.npy) or "
                "synthetic[:N]")
      ->capture_default_str();
  c->add_option("--eval-data", t.eval_data, "Source of the test split (default: that of --data)");
  c->add_option("--loader-threads", t.loader_threads, "Decode threads (0: one per core)")
      ->capture_default_str();
  c->add_option("--prefetch", t.prefetch, "Batches decoded ahead of the step")
      ->capture_default_str();
  c->add_option("--shuffle", t.shuffle, "full, none or buffer:K")->capture_default_str();
  c->add_option("--skip-corrupt", t.skip_corrupt,
                "Skip up to N corrupt samples (counted in summary.json), then fail")
      ->capture_default_str();
  c->add_option("--comm-timeout", t.comm_timeout,
                "Seconds a collective may take before every rank is ended (dead or stalled rank)")
      ->capture_default_str();
  c->add_option("--bucket-mb", t.bucket_mb, "Gradient allreduce bucket size (MB)")
      ->capture_default_str();
  add_enum(c, "--grad-wire", t.grad_wire,
           "Gradient element type on the wire: f32, or f16/bf16 (half the bytes)");
  c->add_flag("--overlap,!--no-overlap", t.overlap,
              "Allreduce gradient buckets while backward runs")
      ->capture_default_str();
  add_enum(c, "--optimizer", t.optimizer, "sgd or lars (layer-wise trust ratios, large batches)");
  c->add_option("--lars-eta", t.lars_eta, "LARS trust coefficient")->capture_default_str();
  add_enum(c, "--lr-scaling", t.lr_scaling,
           "none, or linear: --lr x global batch / --lr-base-batch (Goyal et al.)");
  c->add_option("--lr-base-batch", t.lr_base_batch, "Batch --lr is given for (linear scaling)")
      ->capture_default_str();
  c->add_option("--baseline-ips", t.baseline_ips,
                "One-rank images/s, to report scaling efficiency in summary.json")
      ->capture_default_str();
  c->add_flag("--roi-decode,!--no-roi-decode", t.roi_decode,
              "JPEG: decode only the random crop, at a reduced DCT scale")
      ->capture_default_str();
  c->add_option("--batch", t.batch, "Samples per step per rank (global batch = batch x ranks)")
      ->capture_default_str();
  c->add_option("--epochs", t.epochs, "Epochs to train (ignored when --steps > 0)")
      ->capture_default_str();
  c->add_option("--steps", t.steps, "Steps to train (0: use --epochs)")->capture_default_str();
  c->add_option("--stop-after", t.stop_after,
                "Stop this invocation after N steps with a checkpoint (the schedule still spans "
                "the whole run; continue with --resume auto)")
      ->capture_default_str();
  c->add_option("--image-size", t.image_size,
                "Input height = width for synthetic data (0: the model's default)")
      ->capture_default_str();
  c->add_option("--lr", t.lr, "Peak learning rate")->capture_default_str();
  c->add_option("--end-lr", t.end_lr, "Learning rate the cosine and poly schedules end at")
      ->capture_default_str();
  add_enum(c, "--schedule", t.schedule, "constant, step, cosine or poly");
  c->add_option("--warmup-epochs", t.warmup_epochs, "Linear warmup length")->capture_default_str();
  c->add_option("--milestones", t.milestones, "Epochs at which the step schedule decays")
      ->delimiter(',');
  c->add_option("--momentum", t.momentum, "SGD momentum")->capture_default_str();
  c->add_flag("--nesterov,!--no-nesterov", t.nesterov, "Nesterov momentum")->capture_default_str();
  c->add_option("--weight-decay", t.weight_decay, "L2 weight decay")->capture_default_str();
  c->add_flag("--no-decay-norm-bias,!--decay-norm-bias", t.no_decay_norm_bias,
              "No weight decay on batch-norm parameters and biases")
      ->capture_default_str();
  c->add_option("--label-smoothing", t.label_smoothing, "Label smoothing")->capture_default_str();
  c->add_flag("--zero-init-residual,!--no-zero-init-residual", t.zero_init_residual,
              "Start the last BN gamma of each residual branch at 0")
      ->capture_default_str();
  c->add_option("--crop-pad", t.crop_pad, "Random crop after zero padding by this many pixels")
      ->capture_default_str();
  c->add_flag("--flip,!--no-flip", t.flip, "Random horizontal flips")->capture_default_str();
  add_enum(c, "--layout", t.layout, "Activation layout: nhwc or nchw");
  c->add_option("--threads", t.threads, "Compute threads (0: one per core)")->capture_default_str();
  c->add_option("--device", t.device,
                "cpu, or cuda[:N] (a CUDA build on a GPU host; a bare cuda in a job of several "
                "ranks: the local rank's GPU)")
      ->capture_default_str();
  add_enum(c, "--precision", t.precision,
           "fp32 (exact), tf32 (fp32 with TF32 tensor cores), fp16 (with dynamic loss "
           "scaling) or bf16; all but fp32 need --device cuda");
  c->add_option("--seed", t.seed, "Seed of initialization, data order and augmentation")
      ->capture_default_str();
  c->add_option("--run-dir", t.run_dir, "Folder for this run's files (default runs/MODEL-TIME)");
  c->add_option("--resume", t.resume, "auto (RUN_DIR/checkpoint.safetensors) or a checkpoint path");
  c->add_option("--checkpoint-every", t.checkpoint_every,
                "Also checkpoint every N steps (0: only at epoch ends)")
      ->capture_default_str();
  c->add_option("--log-every", t.log_every, "Steps per steps.jsonl record")->capture_default_str();
  c->add_flag("--profile", t.profile,
              "Time every layer (summary.json) and trace the run (--trace); prints the "
              "nvprof-style tables of scaledl profile at the end");
  c->add_flag("--eval,!--no-eval", t.eval, "Evaluate on the test split after each epoch")
      ->capture_default_str();
  c->add_option("--stop-signals", t.stop_signals,
                "Signals that stop the run after the current step with a checkpoint (exit code "
                "75; continue with --resume auto), or none; a second SIGINT ends at once")
      ->capture_default_str();
  c->add_flag("--requeue-on-signal", t.requeue_on_signal,
              "Under Slurm: after a stop signal's checkpoint, requeue the job (scontrol "
              "requeue); it resumes with --resume auto");
  c->add_option("--target-accuracy", t.target_accuracy,
                "End the run at the first evaluation whose top-1 (percent) reaches this; "
                "summary.json reports the time to accuracy")
      ->capture_default_str();
  c->add_flag("--trace", t.trace,
              "Write a Chrome trace (ui.perfetto.dev) of each step's phases, layers, gradient "
              "allreduces and decoding: RUN_DIR/trace.json, trace.rank<R>.json on rank R");
  c->add_flag("--tensorboard,!--no-tensorboard", t.tensorboard,
              "Write TensorBoard events (scalars and hparams) to RUN_DIR/events.out.tfevents.*")
      ->capture_default_str();
  c->add_flag("--monitor,!--no-monitor", t.monitor,
              "Sample CPU, memory, disk and network (and GPUs through NVML) into "
              "RUN_DIR/monitor.jsonl, TensorBoard and summary.json")
      ->capture_default_str();
  c->add_option("--monitor-interval", t.monitor_interval, "Seconds between system monitor samples")
      ->capture_default_str();
  c->add_flag("--mllog,!--no-mllog", t.mllog,
              "Write the MLPerf training log (:::MLLOG lines) to RUN_DIR/mlperf_log.txt")
      ->capture_default_str();
  c->add_option("--mllog-org", t.mllog_org, "submission_org in the MLPerf log")
      ->capture_default_str();
  c->add_option("--mllog-platform", t.mllog_platform,
                "submission_platform in the MLPerf log (default: RANKSxDEVICE)");
  add_enum(c, "--mllog-division", t.mllog_division,
           "open, or closed: refuse hyperparameters the closed ResNet rules reject");
  c->add_option("--heartbeat", t.heartbeat,
                "Seconds between RUN_DIR/status.json heartbeats (a run whose heartbeat is three "
                "intervals old reads as lost)")
      ->capture_default_str();
  t.run_dir.clear();
  return [cfg, c] {
    if (cfg->run_dir.empty()) cfg->run_dir = default_run_dir(cfg->model);
    nlohmann::json s = run_training(*cfg);
    const bool stopped = s["status"] == "stopped";
    const int code = stopped ? kExitStopped : 0;
    if (s["rank"] != 0) return code;  // one report per job, from rank 0
    if (stopped) {
      const nlohmann::json& how = s["stopped"];
      std::printf(
          "stopped by %s at step %lld of %lld; checkpoint %s/checkpoint.safetensors; "
          "continue with --resume auto\n",
          how["signal"].get<std::string>().c_str(), how["step"].get<long long>(),
          s["steps_planned"].get<long long>(), cfg->run_dir.c_str());
      std::printf("summary: %s/summary.json\n", cfg->run_dir.c_str());
      return code;
    }
    if (s["top1"].is_null())
      std::printf("no evaluation (--no-eval)  %.0f images/s  %.1f s\n",
                  s["images_per_sec"].get<double>(), s["wall_seconds"].get<double>());
    else
      std::printf("top-1 %.2f%%  top-5 %.2f%%  %.0f images/s  %.1f s\n", s["top1"].get<double>(),
                  s["top5"].get<double>(), s["images_per_sec"].get<double>(),
                  s["wall_seconds"].get<double>());
    std::printf("summary: %s/summary.json\n", cfg->run_dir.c_str());
    if (cfg->profile) std::fputs(profile_report(cfg->run_dir, 0, 15).c_str(), stdout);
    return 0;
  };
}

}  // namespace scaledl::cli
