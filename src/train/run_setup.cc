// Run preparation: folder, data, model, batchers, resume.
#include "train/run_setup.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/atomic_file.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/pipeline.h"
#include "models/models.h"
#include "nn/net.h"
#include "ops/ops.h"

namespace scaledl {

namespace fs = std::filesystem;

void ensure_run_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error("run-dir", dir + ": cannot create the folder (" +
                               (ec ? ec.message() : std::string("a file is in the way")) +
                               "); choose a writable --run-dir");
  if (access(dir.c_str(), W_OK) != 0)
    throw Error("run-dir",
                dir + ": not writable (" + std::strerror(errno) + "); choose a writable --run-dir");
}

namespace {
// The first few class names, for messages.
std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 4; ++i) s += (i ? ", " : "") + names[i];
  return names.size() > 4 ? s + ", ..." : s;
}
}  // namespace

RunSetup prepare_run(const TrainConfig& cfg, int rank, int world, Device device) {
  cfg.validate();
  if (device.is_cpu()) device = parse_device(cfg.device);
  if (const std::string problem = cuda_device_problem(device); !problem.empty())
    throw Error("device", "--device " + cfg.device + ": " + problem);
  set_num_threads(cfg.threads);
  // The GPU's context first: the loaders' pinned buffers are then made on it, not on cuda:0.
  if (!device.is_cpu()) Tensor::empty({1}, DType::f32, device);
  if (rank == 0) ensure_run_dir(cfg.run_dir);  // only rank 0 writes there
  if (rank == 0 && !cfg.resume.empty())        // a killed run's half-written checkpoint
    if (const uint64_t freed = remove_stale_temporaries(cfg.run_dir))
      log_info("removed " + std::to_string(freed >> 20) + " MiB of temporary files left in " +
               cfg.run_dir + " by a killed run");

  RunSetup run;
  const std::string ck = cfg.run_dir + "/checkpoint.safetensors";
  if (cfg.resume.empty()) {
    if (rank == 0 && fs::exists(ck))
      throw Error("run-dir", cfg.run_dir +
                                 " already holds a run (checkpoint.safetensors); pass "
                                 "--resume auto to continue it or choose another --run-dir");
  } else if (cfg.resume == "auto" && !fs::exists(ck)) {
    // A job that is requeued or rerun passes --resume auto every time: the first start is fresh.
    log_info("--resume auto: no checkpoint in " + cfg.run_dir + " yet; starting from step 0");
  } else {
    run.resume_path = cfg.resume == "auto" ? ck : cfg.resume;
    if (!fs::exists(run.resume_path))
      throw Error("resume", run.resume_path + ": no such checkpoint; check --resume and --run-dir");
  }

  const DataSpec spec = parse_data_spec(cfg.data);
  int64_t image_size = cfg.image_size;
  if (spec.kind == "synthetic" && image_size == 0) {
    for (const ModelInfo& m : model_list())
      if (m.name == cfg.model) image_size = m.default_image_size;
    if (image_size == 0) image_size = 224;
  }
  DataSplits data = open_data(spec, image_size, cfg.seed);
  if (!cfg.eval_data.empty())
    data.test =
        open_eval_source(parse_data_spec(cfg.eval_data, "--eval-data"), image_size, cfg.seed);
  if (cfg.eval && !data.test)
    throw Error("data", cfg.data +
                            " has no test split (DIR/val or DIR/test); give one with "
                            "--eval-data or pass --no-eval");
  const Layout layout = cfg.layout;
  PipelineOptions po;
  po.image_size = image_size;
  po.pad = cfg.crop_pad;
  po.flip = cfg.flip;
  po.roi_decode = cfg.roi_decode;
  po.layout = layout;
  Transformer train_tf = make_transform(*data.train, true, po);
  po.mean = train_tf.spec().mean;  // evaluation normalizes with the training statistics
  po.stddev = train_tf.spec().stddev;
  LoaderOptions lo;
  lo.batch = cfg.batch;
  lo.rank = rank;
  lo.world = world;
  lo.seed = cfg.seed;
  lo.shuffle = parse_shuffle(cfg.shuffle);
  lo.last = LastBatch::drop;
  lo.threads = cfg.loader_threads;
  lo.prefetch = cfg.prefetch;
  lo.skip_corrupt = cfg.skip_corrupt;
  lo.pinned = !device.is_cpu();
  const int in_channels = train_tf.channels();
  image_size = train_tf.out_height();
  const int classes = data.train->classes();
  if (data.test) {
    if (data.test->class_names() != data.train->class_names())
      throw Error("data", data.test->describe() + " has " + std::to_string(data.test->classes()) +
                              " classes (" + join_names(data.test->class_names()) + ") but " +
                              data.train->describe() + " has " + std::to_string(classes) + " (" +
                              join_names(data.train->class_names()) +
                              "); use splits of one data set");
    Transformer test_tf = make_transform(*data.test, false, po);
    if (test_tf.channels() != in_channels || test_tf.out_height() != image_size)
      throw Error("data",
                  data.test->describe() + " gives " +
                      shape_str({test_tf.channels(), test_tf.out_height(), test_tf.out_width()}) +
                      " images but training uses " +
                      shape_str({in_channels, image_size, image_size}));
    LoaderOptions to = lo;
    to.shuffle.mode = ShuffleMode::none;
    to.last = LastBatch::pad;
    to.skip_corrupt = cfg.skip_corrupt;
    run.test_loader = std::make_unique<Loader>(data.test, std::move(test_tf), to);
  }
  const std::string train_desc = data.train->describe();
  run.train_loader = std::make_unique<Loader>(data.train, std::move(train_tf), lo);
  run.net = std::make_unique<Net>(build_graph(cfg.model, in_channels, image_size, classes));
  run.net->init(cfg.seed, cfg.zero_init_residual);
  set_allow_tf32(cfg.precision == TrainPrecision::tf32);
  const std::string precision = enum_name(cfg.precision);
  const DType compute = cfg.precision == TrainPrecision::fp16   ? DType::f16
                        : cfg.precision == TrainPrecision::bf16 ? DType::bf16
                                                                : DType::f32;
  if (device.is_cpu() && cfg.precision != TrainPrecision::fp32) {
    if (support("conv2d_forward", Backend::cpu, compute) == Support::native)
      log_info("--precision " + precision +
               " on the cpu: convolutions, batch norm, relu, add, pooling and linear run on "
               "oneDNN's " +
               precision +
               " kernels; the other ops emulate (f32 math, outputs rounded); summary.json "
               "'kernels' lists which");
    else
      log_warn("--precision " + precision +
               " on the cpu is emulated: f32 math with each op's "
               "output rounded to " +
               precision +
               " (this CPU has no bf16 instructions for oneDNN, or the dtype is f16; for "
               "checking numerics, not for speed)");
  }
  run.net->place(device, compute);
  run.net->setup(cfg.batch, layout);

  CheckpointInfo& info = run.checkpoint_info;
  info.model = cfg.model;
  info.image_size = image_size;
  info.in_channels = in_channels;
  info.classes = classes;
  info.mean = po.mean;
  info.stddev = po.stddev;
  info.config_json = cfg.to_json().dump();

  char line[768];
  std::snprintf(line, sizeof line,
                "%s: %lld parameters, %.3f GFLOPs/image at %lldx%lld; %s; "
                "batch %lld; %s %s; %d compute threads, %d loader threads",
                cfg.model.c_str(), static_cast<long long>(run.net->num_params()),
                run.net->flops() / 1e9, static_cast<long long>(image_size),
                static_cast<long long>(image_size), train_desc.c_str(),
                static_cast<long long>(cfg.batch), device.str().c_str(), precision.c_str(),
                num_threads(), run.train_loader->options().threads);
  log_info(line);
  return run;
}

nlohmann::json profile_json(const Net& net, int64_t steps) {
  std::map<std::string, std::pair<double, double>> by_kind;
  std::vector<NodeTime> nodes = net.node_times();
  for (const NodeTime& t : nodes) {
    by_kind[t.kind].first += t.forward_s;
    by_kind[t.kind].second += t.backward_s;
  }
  const double n = std::max<int64_t>(1, steps);
  nlohmann::json kinds = nlohmann::json::object();
  for (const auto& [k, v] : by_kind)
    kinds[k] = {{"forward_ms", 1e3 * v.first / n}, {"backward_ms", 1e3 * v.second / n}};
  std::sort(nodes.begin(), nodes.end(), [](const NodeTime& a, const NodeTime& b) {
    return a.forward_s + a.backward_s > b.forward_s + b.backward_s;
  });
  nlohmann::json top = nlohmann::json::array();
  for (size_t i = 0; i < std::min<size_t>(15, nodes.size()); ++i)
    top.push_back({{"name", nodes[i].name},
                   {"kind", nodes[i].kind},
                   {"forward_ms", 1e3 * nodes[i].forward_s / n},
                   {"backward_ms", 1e3 * nodes[i].backward_s / n}});
  return {{"per_step_by_kind", kinds}, {"top_layers", top}};
}

}  // namespace scaledl
