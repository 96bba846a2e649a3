// scaledl eval: loads a checkpoint and evaluates it on a data source's test split.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/infer_common.h"
#include "core/error.h"
#include "core/threads.h"
#include "data/loader.h"
#include "data/pipeline.h"
#include "data/source.h"
#include "models/models.h"
#include "nn/net.h"
#include "telemetry/jsonl.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"

namespace scaledl::cli {

namespace {
struct EvalArgs {
  std::string checkpoint, data = std::string("idx:") + kFashionMnistDir, layout = "nhwc", json;
  std::string precision;  // empty: the training executor; else the inference Engine
  CalibFlags calib;
  int64_t batch = 256;
  int threads = 0, loader_threads = 0;
};
void report(const EvalArgs& a, const std::string& model, const EvalResult& r) {
  std::printf("%s on %s: top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%lld images, %.1f s)\n",
              model.c_str(), a.data.c_str(), r.top1, r.top5, r.loss,
              static_cast<long long>(r.samples), r.seconds);
  if (!a.json.empty())
    write_json_atomic(a.json, {{"model", model}, {"checkpoint", a.checkpoint}, {"top1", r.top1},
                               {"top5", r.top5}, {"loss", r.loss}, {"samples", r.samples},
                               {"seconds", r.seconds}, {"precision", a.precision}});
}

// --precision: the checkpoint through the inference Engine.
int eval_engine(const EvalArgs& a) {
  const infer::Precision p = infer::parse_precision(a.precision);
  if (const std::string why = infer::cpu_precision_problem(p); !why.empty())
    throw Error("eval", "--precision " + a.precision + ": " + why);
  LoadedModel m = load_checkpoint_model(a.checkpoint);
  infer::EngineOptions o;
  o.precision = p;
  o.max_batch = a.batch;
  o.keep_fp32 = a.calib.keep_fp32;
  nlohmann::json about;
  if (p == infer::Precision::int8) o.thresholds = resolve_calibration(m, a.calib, about);
  infer::Engine e(m.graph, o);
  auto loader = eval_loader(m, a.data, a.batch, "--data");
  report(a, m.name, evaluate_engine(e, *loader));
  return 0;
}
}  // namespace

Runner add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* c = app.add_subcommand("eval", "Evaluate a checkpoint: top-1, top-5, loss");
  c->add_option("--config", "JSON file of flag: value; flags given here override it");
  c->add_option("--checkpoint", a->checkpoint, "checkpoint.safetensors written by scaledl train")
      ->required();
  c->add_option("--data", a->data,
                "records:DIR, folder:DIR, csv:FILE, idx:DIR, npy:FILE (with X.labels.npy) or "
                "synthetic[:N] (its test split is used)")
      ->capture_default_str();
  c->add_option("--loader-threads", a->loader_threads, "Decode threads (0: one per core)");
  c->add_option("--batch", a->batch, "Samples per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--layout", a->layout, "nhwc or nchw")
      ->check(CLI::IsMember({"nhwc", "nchw"}))
      ->capture_default_str();
  c->add_option("--threads", a->threads, "Compute threads (0: one per core)");
  c->add_option("--json", a->json, "Also write the result to this JSON file");
  c->add_option("--precision", a->precision,
                "fp32, bf16 or int8: evaluate through the inference engine (as scaledl infer)");
  add_calib_flags(*c, a->calib);
  return [a] {
    set_num_threads(a->threads);
    if (!a->precision.empty()) return eval_engine(*a);
    CheckpointInfo info = read_checkpoint_info(a->checkpoint);
    SourcePtr test = open_eval_source(parse_data_spec(a->data), info.image_size, 1);
    std::unique_ptr<Net> net =
        std::make_unique<Net>(build_graph(info.model, info.in_channels, info.image_size, info.classes));
    net->init(0);
    load_checkpoint(a->checkpoint, *net, nullptr);
    const Layout layout = a->layout == "nchw" ? Layout::nchw : Layout::nhwc;
    net->setup(a->batch, layout);
    PipelineOptions po;
    po.image_size = info.image_size;
    po.layout = layout;
    po.mean = info.mean;
    po.stddev = info.stddev;
    Transformer tf = make_transform(*test, false, po);
    if (tf.channels() != info.in_channels || tf.out_height() != info.image_size)
      throw Error("eval", test->describe() + " gives " + std::to_string(tf.channels()) + "x" +
                              std::to_string(tf.out_height()) + "x" + std::to_string(tf.out_width()) +
                              " images; " + a->checkpoint + " wants " +
                              std::to_string(info.in_channels) + "x" +
                              std::to_string(info.image_size) + "x" + std::to_string(info.image_size));
    if (test->classes() > info.classes)
      throw Error("eval", test->describe() + " has " + std::to_string(test->classes()) +
                              " classes; " + a->checkpoint + " knows " + std::to_string(info.classes));
    LoaderOptions lo;
    lo.batch = a->batch;
    lo.shuffle.mode = ShuffleMode::none;
    lo.last = LastBatch::pad;
    lo.threads = a->loader_threads;
    Loader loader(test, std::move(tf), lo);
    report(*a, info.model, evaluate(*net, loader));
    return 0;
  };
}

}  // namespace scaledl::cli
