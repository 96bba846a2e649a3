// scaledl eval: loads a checkpoint and evaluates it on a data source's test split.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/threads.h"
#include "data/batcher.h"
#include "data/source.h"
#include "models/models.h"
#include "telemetry/jsonl.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"

namespace scaledl::cli {

namespace {
struct EvalArgs {
  std::string checkpoint, data = std::string("idx:") + kFashionMnistDir, layout = "nhwc", json;
  int64_t batch = 256;
  int threads = 0;
};
}  // namespace

Runner add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* c = app.add_subcommand("eval", "Evaluate a checkpoint: top-1, top-5, loss");
  c->add_option("--config", "JSON file of flag: value; flags given here override it");
  c->add_option("--checkpoint", a->checkpoint, "checkpoint.safetensors written by scaledl train")
      ->required();
  c->add_option("--data", a->data, "idx:DIR or synthetic[:N] (its test split is used)")
      ->capture_default_str();
  c->add_option("--batch", a->batch, "Samples per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--layout", a->layout, "nhwc or nchw")
      ->check(CLI::IsMember({"nhwc", "nchw"}))
      ->capture_default_str();
  c->add_option("--threads", a->threads, "Compute threads (0: one per core)");
  c->add_option("--json", a->json, "Also write the result to this JSON file");
  return [a] {
    set_num_threads(a->threads);
    CheckpointInfo info = read_checkpoint_info(a->checkpoint);
    Datasets d = load_datasets(parse_data_spec(a->data), info.image_size, info.in_channels,
                               info.classes, 1);
    std::unique_ptr<Net> net =
        build_model(info.model, info.in_channels, info.image_size, info.classes);
    net->init(0);
    load_checkpoint(a->checkpoint, *net, nullptr);
    const Layout layout = a->layout == "nchw" ? Layout::nchw : Layout::nhwc;
    net->setup(a->batch, layout);
    Augment aug;
    aug.mean = info.mean;
    aug.stddev = info.stddev;
    Batcher batches(d.test, a->batch, false, false, aug, layout, 1);
    EvalResult r = evaluate(*net, batches);
    std::printf("%s on %s: top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%lld images, %.1f s)\n",
                info.model.c_str(), a->data.c_str(), r.top1, r.top5, r.loss,
                static_cast<long long>(r.samples), r.seconds);
    if (!a->json.empty())
      write_json_atomic(a->json, {{"model", info.model}, {"checkpoint", a->checkpoint},
                                  {"top1", r.top1}, {"top5", r.top5}, {"loss", r.loss},
                                  {"samples", r.samples}, {"seconds", r.seconds}});
    return 0;
  };
}

}  // namespace scaledl::cli
