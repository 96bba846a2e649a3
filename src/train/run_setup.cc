// Run preparation: folder, data, model, batchers, resume.
#include "train/run_setup.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "models/models.h"

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
    throw Error("run-dir", dir + ": not writable (" + std::strerror(errno) +
                               "); choose a writable --run-dir");
}

void channel_stats(const ImageSet& set, std::vector<float>& mean, std::vector<float>& stddev) {
  const int64_t n = std::min<int64_t>(set.size(), 10000);
  const int64_t c = set.images.dim(3), per = set.images.dim(1) * set.images.dim(2) * c;
  std::vector<double> s(c, 0), s2(c, 0);
  const uint8_t* p = set.images.data<uint8_t>();
  for (int64_t i = 0; i < n * per; ++i) {
    double v = p[i] / 255.0;
    s[i % c] += v;
    s2[i % c] += v * v;
  }
  const double count = static_cast<double>(n * per / c);
  mean.assign(c, 0.f);
  stddev.assign(c, 1.f);
  for (int64_t k = 0; k < c && count > 0; ++k) {
    double m = s[k] / count;
    mean[k] = static_cast<float>(m);
    stddev[k] = static_cast<float>(std::sqrt(std::max(1e-12, s2[k] / count - m * m)));
  }
}

RunSetup prepare_run(const TrainConfig& cfg) {
  cfg.validate();
  Device device = parse_device(cfg.device);
  if (!device.is_cpu())
    throw Error("device", "--device " + cfg.device +
                              ": this build has no CUDA backend; rebuild with -DSCALEDL_CUDA=ON "
                              "or use --device cpu");
  set_num_threads(cfg.threads);
  ensure_run_dir(cfg.run_dir);

  RunSetup run;
  const std::string ck = cfg.run_dir + "/checkpoint.safetensors";
  if (cfg.resume.empty()) {
    if (fs::exists(ck))
      throw Error("run-dir", cfg.run_dir + " already holds a run (checkpoint.safetensors); pass "
                                           "--resume auto to continue it or choose another --run-dir");
  } else {
    run.resume_path = cfg.resume == "auto" ? ck : cfg.resume;
    if (!fs::exists(run.resume_path))
      throw Error("resume", run.resume_path + ": no such checkpoint; check --resume and --run-dir");
  }

  DataSpec spec = parse_data_spec(cfg.data);
  int64_t image_size = cfg.image_size;
  if (spec.kind == "synthetic" && image_size == 0) {
    for (const ModelInfo& m : model_list())
      if (m.name == cfg.model) image_size = m.default_image_size;
    if (image_size == 0) image_size = 224;
  }
  run.data = std::make_unique<Datasets>(load_datasets(spec, image_size, 0, 0, cfg.seed));
  const ImageSet& train = run.data->train;
  const int in_channels = static_cast<int>(train.images.dim(3));
  image_size = train.images.dim(1);
  run.net = build_model(cfg.model, in_channels, image_size, train.classes);
  run.net->init(cfg.seed, cfg.zero_init_residual);
  const Layout layout = cfg.layout == "nchw" ? Layout::nchw : Layout::nhwc;
  run.net->setup(cfg.batch, layout);

  Augment train_aug, test_aug;
  channel_stats(train, train_aug.mean, train_aug.stddev);
  test_aug.mean = train_aug.mean;
  test_aug.stddev = train_aug.stddev;
  train_aug.pad = cfg.crop_pad;
  train_aug.flip = cfg.flip;
  run.train_batches = std::make_unique<Batcher>(train, cfg.batch, true, true, train_aug, layout,
                                                cfg.seed);
  run.test_batches = std::make_unique<Batcher>(run.data->test, cfg.batch, false, false, test_aug,
                                               layout, cfg.seed);
  if (run.train_batches->batches_per_epoch() == 0)
    throw Error("data", cfg.data + " has " + std::to_string(train.size()) +
                            " training samples, fewer than --batch " + std::to_string(cfg.batch) +
                            "; lower --batch");

  CheckpointInfo& info = run.checkpoint_info;
  info.model = cfg.model;
  info.image_size = image_size;
  info.in_channels = in_channels;
  info.classes = train.classes;
  info.mean = train_aug.mean;
  info.stddev = train_aug.stddev;
  info.config_json = cfg.to_json().dump();

  char line[256];
  std::snprintf(line, sizeof line,
                "%s: %lld parameters, %.3f GFLOPs/image at %lldx%lld; %lld train / %lld test "
                "images; batch %lld; %d threads",
                cfg.model.c_str(), static_cast<long long>(run.net->num_params()),
                run.net->flops() / 1e9, static_cast<long long>(image_size),
                static_cast<long long>(image_size), static_cast<long long>(train.size()),
                static_cast<long long>(run.data->test.size()), static_cast<long long>(cfg.batch),
                num_threads());
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
    top.push_back({{"name", nodes[i].name}, {"kind", nodes[i].kind},
                   {"forward_ms", 1e3 * nodes[i].forward_s / n},
                   {"backward_ms", 1e3 * nodes[i].backward_s / n}});
  return {{"per_step_by_kind", kinds}, {"top_layers", top}};
}

}  // namespace scaledl
