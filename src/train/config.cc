// TrainConfig validation and serialization.
#include "train/config.h"

#include <string>

#include "core/error.h"
#include "core/stop_signal.h"

namespace scaledl {

namespace {
void need(bool ok, const std::string& flag, const std::string& what) {
  if (!ok) throw Error("config", flag + " " + what);
}
}  // namespace

void TrainConfig::validate() const {
  need(batch > 0, "--batch",
       "must be a positive number of samples per rank, got " + std::to_string(batch));
  need(epochs > 0 || steps > 0, "--epochs/--steps", "one of them must be positive");
  need(steps >= 0, "--steps", "must not be negative");
  need(stop_after >= 0, "--stop-after", "must not be negative");
  need(lr > 0, "--lr", "must be positive, got " + std::to_string(lr));
  need(momentum >= 0 && momentum < 1, "--momentum", "must be in [0, 1)");
  need(weight_decay >= 0, "--weight-decay", "must not be negative");
  need(label_smoothing >= 0 && label_smoothing < 1, "--label-smoothing", "must be in [0, 1)");
  need(warmup_epochs >= 0, "--warmup-epochs", "must not be negative");
  need(crop_pad >= 0, "--crop-pad", "must not be negative");
  need(threads >= 0, "--threads", "must be 0 (all cores) or positive");
  need(log_every > 0, "--log-every", "must be positive");
  need(checkpoint_every >= 0, "--checkpoint-every", "must not be negative");
  need(image_size >= 0, "--image-size", "must not be negative");
  need(!run_dir.empty(), "--run-dir", "must name a folder");
  need(loader_threads >= 0, "--loader-threads", "must be 0 (one per core) or positive");
  need(prefetch >= 1, "--prefetch", "must be at least 1 batch");
  need(skip_corrupt >= 0, "--skip-corrupt", "must not be negative");
  need(comm_timeout > 0, "--comm-timeout", "must be a positive number of seconds");
  need(bucket_mb > 0, "--bucket-mb", "must be positive");
  need(lars_eta > 0, "--lars-eta", "must be positive");
  need(lr_base_batch > 0, "--lr-base-batch", "must be positive");
  need(baseline_ips >= 0, "--baseline-ips", "must not be negative");
  need(end_lr >= 0 && end_lr <= lr, "--end-lr", "must be in [0, --lr]");
  need(target_accuracy >= 0 && target_accuracy <= 100, "--target-accuracy",
       "must be a top-1 percentage in (0, 100], or 0 for none");
  need(target_accuracy == 0 || eval, "--target-accuracy", "needs evaluation; drop --no-eval");
  need(monitor_interval > 0, "--monitor-interval", "must be a positive number of seconds");
  need(heartbeat > 0, "--heartbeat", "must be a positive number of seconds");
  parse_stop_signals(stop_signals);  // throws naming --stop-signals
  need(!requeue_on_signal || !parse_stop_signals(stop_signals).empty(), "--requeue-on-signal",
       "needs at least one --stop-signals signal to act on");
  need(precision != TrainPrecision::tf32 || device != "cpu", "--precision",
       "tf32 needs --device cuda (TF32 is a GPU tensor-core format)");
}

nlohmann::json TrainConfig::to_json() const {
  return {{"model", model},
          {"data", data},
          {"eval_data", eval_data},
          {"loader_threads", loader_threads},
          {"prefetch", prefetch},
          {"shuffle", shuffle},
          {"skip_corrupt", skip_corrupt},
          {"roi_decode", roi_decode},
          {"comm_timeout", comm_timeout},
          {"bucket_mb", bucket_mb},
          {"overlap", overlap},
          {"grad_wire", enum_name(grad_wire)},
          {"optimizer", enum_name(optimizer)},
          {"lars_eta", lars_eta},
          {"lr_scaling", enum_name(lr_scaling)},
          {"lr_base_batch", lr_base_batch},
          {"baseline_ips", baseline_ips},
          {"batch", batch},
          {"epochs", epochs},
          {"steps", steps},
          {"stop_after", stop_after},
          {"image_size", image_size},
          {"lr", lr},
          {"schedule", enum_name(schedule)},
          {"warmup_epochs", warmup_epochs},
          {"milestones", milestones},
          {"momentum", momentum},
          {"nesterov", nesterov},
          {"weight_decay", weight_decay},
          {"no_decay_norm_bias", no_decay_norm_bias},
          {"label_smoothing", label_smoothing},
          {"zero_init_residual", zero_init_residual},
          {"crop_pad", crop_pad},
          {"flip", flip},
          {"layout", enum_name(layout)},
          {"threads", threads},
          {"device", device},
          {"precision", enum_name(precision)},
          {"seed", seed},
          {"run_dir", run_dir},
          {"checkpoint_every", checkpoint_every},
          {"log_every", log_every},
          {"profile", profile},
          {"stop_signals", stop_signals},
          {"requeue_on_signal", requeue_on_signal},
          {"heartbeat", heartbeat},
          {"end_lr", end_lr},
          {"target_accuracy", target_accuracy},
          {"mllog", mllog},
          {"tensorboard", tensorboard},
          {"trace", trace},
          {"monitor", monitor},
          {"monitor_interval", monitor_interval},
          {"mllog_org", mllog_org},
          {"mllog_platform", mllog_platform},
          {"mllog_division", enum_name(mllog_division)}};
}

}  // namespace scaledl
