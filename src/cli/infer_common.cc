// Model loading, calibration resolution and engine evaluation for the inference commands.
#include "cli/infer_common.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "data/pipeline.h"
#include "data/source.h"
#include "infer/quant.h"
#include "models/models.h"
#include "nn/net.h"
#include "onnx/import.h"
#include "train/checkpoint.h"

namespace scaledl::cli {

LoadedModel load_checkpoint_model(const std::string& path) {
  const CheckpointInfo info = read_checkpoint_info(path);
  Net net(build_graph(info.model, info.in_channels, info.image_size, info.classes));
  net.init(0);
  load_checkpoint(path, net, nullptr);
  return {net.graph_with_values(),
          info.model,
          info.in_channels,
          info.image_size,
          info.classes,
          info.mean,
          info.stddev};
}

LoadedModel load_onnx_model(const std::string& path, const std::vector<float>& mean,
                            const std::vector<float>& stddev, bool* quantized) {
  onnxio::ImportedModel im = onnxio::import_onnx_file(path);
  const Shape& in = im.graph.input_shape();
  const Shape& out = im.graph.output_shape();
  if (in.size() != 3) throw Error("onnx", path + ": input " + shape_str(in) + " is not [C, H, W]");
  if (out.size() != 1) throw Error("onnx", path + ": output " + shape_str(out) + " is not [F]");
  LoadedModel m;
  m.name = std::filesystem::path(path).stem().string();
  m.in_channels = static_cast<int>(in[0]);
  m.image_size = in[1];
  m.classes = static_cast<int>(out[0]);
  m.mean = !mean.empty() ? mean : im.mean;
  m.stddev = !stddev.empty() ? stddev : im.stddev;
  if (m.mean.empty() && m.in_channels == 3) m.mean = {0.485f, 0.456f, 0.406f};
  if (m.stddev.empty() && m.in_channels == 3) m.stddev = {0.229f, 0.224f, 0.225f};
  if (quantized) *quantized = im.qdq_pairs > 0;
  m.graph = std::move(im.graph);
  return m;
}

LoadedModel init_model(const std::string& name, int in_channels, int64_t image_size, int classes) {
  if (image_size == 0)
    for (const ModelInfo& m : model_list())
      if (m.name == name) image_size = m.default_image_size;
  Net net(build_graph(name, in_channels, image_size, classes));
  net.init(0);
  return {net.graph_with_values(), name, in_channels, image_size, classes, {}, {}};
}

std::string ModelFlags::kind() const {
  return !model.empty() ? model : !onnx.empty() ? std::string("onnx") : std::string("ckpt");
}

void add_model_flags(CLI::App& c, ModelFlags& f) {
  c.add_option("--checkpoint", f.checkpoint, "checkpoint.safetensors written by scaledl train");
  c.add_option("--onnx", f.onnx,
               "an ONNX model (opset 7-17; a QDQ model runs int8 with its own scales)");
  c.add_option("--mean", f.mean,
               "--onnx with image data: per-channel mean (default: the file's, else ImageNet's)")
      ->delimiter(',');
  c.add_option("--std", f.stddev, "--onnx with image data: per-channel std (as --mean)")
      ->delimiter(',');
  c.add_option("--model", f.model, "a registry model with its initial weights (speed only)");
  c.add_option("--image-size", f.image_size, "--model: input size (default: the model's)");
  c.add_option("--classes", f.classes, "--model: outputs")->capture_default_str();
  c.add_option("--in-channels", f.channels, "--model: input channels")->capture_default_str();
}

LoadedModel load_model(const ModelFlags& f, bool* qdq) {
  if (int(!f.checkpoint.empty()) + int(!f.model.empty()) + int(!f.onnx.empty()) != 1)
    throw Error("flags", "give one of --checkpoint FILE, --onnx FILE or --model NAME");
  if (qdq) *qdq = false;
  if (!f.onnx.empty()) return load_onnx_model(f.onnx, f.mean, f.stddev, qdq);
  if (!f.checkpoint.empty()) return load_checkpoint_model(f.checkpoint);
  return init_model(f.model, f.channels, f.image_size, f.classes);
}

void add_calib_flags(CLI::App& c, CalibFlags& f) {
  c.add_option("--calib-data", f.data,
               "int8: calibration images (any --data source; its training split)");
  c.add_option("--calib-images", f.images, "int8: how many calibration images")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c.add_option("--calib-method", f.method, "int8: entropy (TensorRT's KL), percentile or max")
      ->capture_default_str();
  c.add_option("--calib-percentile", f.percentile,
               "int8: the percentile of --calib-method percentile")
      ->capture_default_str();
  c.add_option(
      "--calib-cache", f.cache,
      "int8: calibration cache (JSON): reused when it matches the model, written otherwise");
  c.add_option("--keep-fp32", f.keep_fp32,
               "int8: nodes kept in fp32 (names after the inference passes, or first/last)")
      ->delimiter(',');
}

namespace {

// Calibrates on the first f.images samples of a fixed shuffle of --calib-data's training split.
CalibCache run_calibration(const LoadedModel& m, const CalibFlags& f) {
  infer::CalibOptions co;
  co.method = parse_calib_method(f.method);
  co.percentile = f.percentile;
  co.source = f.data;
  co.batch = std::min<int64_t>(32, f.images);
  const DataSpec spec = parse_data_spec(f.data, "--calib-data");
  SourcePtr src = open_split(spec, "train", m.image_size, 1);  // labels not needed
  PipelineOptions po;
  po.image_size = m.image_size;
  po.layout = Layout::nchw;
  po.mean = m.mean;
  po.stddev = m.stddev;
  LoaderOptions lo;
  lo.batch = co.batch;
  lo.shuffle.mode = ShuffleMode::full;
  lo.last = LastBatch::pad;
  lo.seed = 7;
  Loader loader(src, make_transform(*src, false, po), lo);
  loader.seek(0, loader.batches_per_epoch());
  int64_t done = 0, batches = 0;
  std::fprintf(stderr, "scaledl info: calibrating on %lld images of %s (%s)\n",
               static_cast<long long>(f.images), src->describe().c_str(), f.method.c_str());
  return infer::calibrate(
      m.graph,
      [&](Tensor& x) {
        if (done >= f.images || batches == loader.batches_per_epoch()) return false;
        const Batch& b = loader.next();
        ++batches;
        const int64_t n = std::min(b.real, f.images - done);
        if (n == 0) return false;
        Shape s = b.x.shape();
        s[0] = n;
        x = b.x.view(s, 0);
        done += n;
        return true;
      },
      co);
}

}  // namespace

infer::Thresholds resolve_calibration(const LoadedModel& m, const CalibFlags& f,
                                      nlohmann::json& about) {
  const std::string hash = infer::model_hash(m.graph);
  if (!f.cache.empty() && std::filesystem::exists(f.cache) && f.data.empty()) {
    CalibCache c = read_calib_cache(f.cache);
    check_calib_cache(c, f.cache, hash, infer::tensor_names(m.graph));
    about = {{"cache", f.cache},
             {"reused", true},
             {"method", calib_method_name(c.method)},
             {"images", c.images},
             {"source", c.source}};
    return infer::thresholds_of(c);
  }
  if (f.data.empty())
    throw Error("infer",
                "--precision int8 needs calibration: pass --calib-data SRC (e.g. the "
                "training set) or an existing --calib-cache FILE");
  CalibCache c = run_calibration(m, f);
  if (!f.cache.empty()) write_calib_cache(f.cache, c);
  about = {{"cache", f.cache},   {"reused", false},  {"method", f.method},
           {"images", c.images}, {"source", f.data}, {"model_hash", hash}};
  return infer::thresholds_of(c);
}

infer::Thresholds model_thresholds(const LoadedModel& m, const CalibFlags& f, bool qdq,
                                   nlohmann::json& about) {
  if (qdq && f.data.empty() && f.cache.empty()) {
    about = {{"source", "the model's QuantizeLinear scales"}};
    return infer::graph_thresholds(m.graph);
  }
  return resolve_calibration(m, f, about);
}

std::pair<SourcePtr, Transformer> eval_data(const LoadedModel& m, const std::string& data,
                                            const std::string& flag) {
  SourcePtr test = open_eval_source(parse_data_spec(data, flag), m.image_size, 1);
  PipelineOptions po;
  po.image_size = m.image_size;
  po.layout = Layout::nchw;
  po.mean = m.mean;
  po.stddev = m.stddev;
  Transformer tf = make_transform(*test, false, po);
  if (tf.channels() != m.in_channels || tf.out_height() != m.image_size)
    throw Error(flag, test->describe() + " gives " + std::to_string(tf.channels()) + "x" +
                          std::to_string(tf.out_height()) + "x" + std::to_string(tf.out_width()) +
                          " images; " + m.name + " wants " + std::to_string(m.in_channels) + "x" +
                          std::to_string(m.image_size) + "x" + std::to_string(m.image_size));
  if (test->classes() > m.classes)
    throw Error(flag, test->describe() + " has " + std::to_string(test->classes()) +
                          " classes; the model knows " + std::to_string(m.classes));
  return {std::move(test), std::move(tf)};
}

std::unique_ptr<Loader> eval_loader(const LoadedModel& m, const std::string& data, int64_t batch,
                                    const std::string& flag) {
  auto [test, tf] = eval_data(m, data, flag);
  LoaderOptions lo;
  lo.batch = batch;
  lo.shuffle.mode = ShuffleMode::none;
  lo.last = LastBatch::pad;
  return std::make_unique<Loader>(test, std::move(tf), lo);
}

EvalResult evaluate_engine(infer::Engine& e, Loader& loader, std::vector<float>* logits) {
  auto t0 = std::chrono::steady_clock::now();
  EvalResult r;
  loader.seek(0, loader.batches_per_epoch());
  for (int64_t b = 0, nb = loader.batches_per_epoch(); b < nb; ++b) {
    const Batch& batch = loader.next();
    const int64_t n = batch.real;
    if (n == 0) continue;
    const Tensor& y = e.run(batch.x);
    // A graph ending in a flatten hands back its 4-D input: rows of C*H*W.
    const Tensor out = y.shape().size() == 2 ? y : y.view({y.dim(0), y.numel() / y.dim(0)}, 0);
    score_batch(out, batch.labels, n, r);
    if (logits)
      logits->insert(logits->end(), out.data<float>(), out.data<float>() + n * out.dim(1));
  }
  r.finish();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace scaledl::cli
