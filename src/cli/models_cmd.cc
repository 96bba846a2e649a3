// scaledl models: every model with its parameter count and forward FLOPs at an input size.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "models/models.h"
#include "nn/net.h"

namespace scaledl::cli {

namespace {
struct ModelsArgs {
  int64_t image_size = 0;
  int classes = 1000, channels = 3;
};
}  // namespace

Runner add_models(CLI::App& app) {
  auto a = std::make_shared<ModelsArgs>();
  CLI::App* c = app.add_subcommand("models", "List models: parameters and GFLOPs per image");
  c->add_option("--image-size", a->image_size, "Input height = width (0: each model's default)");
  c->add_option("--classes", a->classes, "Output classes")->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--channels", a->channels, "Input channels")->check(CLI::PositiveNumber)
      ->capture_default_str();
  return [a] {
    std::printf("%-14s %14s %10s %6s  %s\n", "model", "parameters", "GFLOPs", "input",
                "description");
    for (const ModelInfo& m : model_list()) {
      int64_t size = a->image_size > 0 ? a->image_size : m.default_image_size;
      std::unique_ptr<Net> net;
      try {
        net = std::make_unique<Net>(build_graph(m.name, a->channels, size, a->classes));
      } catch (const Error&) {
        std::printf("%-14s %14s %10s %6lld  %s (does not fit this input size)\n", m.name.c_str(),
                    "-", "-", static_cast<long long>(size), m.description.c_str());
        continue;
      }
      std::printf("%-14s %14lld %10.3f %6lld  %s\n", m.name.c_str(),
                  static_cast<long long>(net->num_params()), net->flops() / 1e9,
                  static_cast<long long>(size), m.description.c_str());
    }
    std::printf("GFLOPs: one image's forward pass, 2 x multiply-adds (conv, linear) plus "
                "normalization, pooling and adds.\n");
    return 0;
  };
}

}  // namespace scaledl::cli
