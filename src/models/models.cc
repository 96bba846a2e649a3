// The model registry: names, descriptions and default sizes, and argument checks before a build.
#include "models/models.h"

#include <functional>
#include <string>

#include "core/error.h"
#include "models/builders.h"

namespace scaledl {

namespace {

using Builder = std::function<Graph(int, int64_t, int)>;

struct Entry {
  ModelInfo info;
  Builder build;
};

Builder with_depth(Graph (*fn)(int, int, int64_t, int), int depth) {
  return [fn, depth](int c, int64_t s, int k) { return fn(depth, c, s, k); };
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> kEntries = [] {
    std::vector<Entry> e;
    for (int d : {18, 34, 50, 101, 152})
      e.push_back({{"resnet" + std::to_string(d),
                    "ResNet-" + std::to_string(d) + " v1.5 (ImageNet, torchvision layout)", 224},
                   with_depth(models::resnet, d)});
    for (int d : {8, 14, 20, 32, 44, 56, 110})
      e.push_back(
          {{"resnet" + std::to_string(d),
            "CIFAR ResNet-" + std::to_string(d) + " (He et al. 2016, option A shortcuts)", 32},
           with_depth(models::resnet_cifar, d)});
    e.push_back({{"resnet_small",
                  "Small wide ResNet (stem 32, blocks 64/128, flatten head): Fashion-MNIST default", 28},
                 models::resnet_small});
    for (int d : {11, 16, 19})
      e.push_back({{"vgg" + std::to_string(d),
                    "VGG-" + std::to_string(d) + " without batch norm (torchvision layout)", 224},
                   with_depth(models::vgg, d)});
    e.push_back({{"alexnet", "AlexNet (torchvision layout)", 224}, models::alexnet});
    e.push_back({{"googlenet", "GoogLeNet / Inception v1 (torchvision, no aux heads)", 224},
                 models::googlenet});
    e.push_back({{"mobilenet_v1", "MobileNet v1, width 1.0 (Howard et al. 2017)", 224},
                 models::mobilenet_v1});
    e.push_back({{"lenet5", "LeNet-5 with ReLU and max pooling, no batch norm (28x28)", 28},
                 models::lenet5});
    return e;
  }();
  return kEntries;
}

std::string known_names() {
  std::string s;
  for (const Entry& e : entries()) s += (s.empty() ? "" : ", ") + e.info.name;
  return s;
}

}  // namespace

const std::vector<ModelInfo>& model_list() {
  static const std::vector<ModelInfo> kList = [] {
    std::vector<ModelInfo> l;
    for (const Entry& e : entries()) l.push_back(e.info);
    return l;
  }();
  return kList;
}

Graph build_graph(const std::string& name, int in_channels, int64_t image_size, int classes) {
  const Entry* found = nullptr;
  for (const Entry& e : entries())
    if (e.info.name == name) found = &e;
  if (!found)
    throw Error("model",
                "unknown model '" + name + "'; known: " + known_names() + "; see `scaledl models`");
  if (in_channels < 1 || image_size < 1 || classes < 1)
    throw Error("model", name + " needs positive channels, image size and classes, got " +
                             std::to_string(in_channels) + ", " + std::to_string(image_size) +
                             ", " + std::to_string(classes));
  try {
    return found->build(in_channels, image_size, classes);
  } catch (const Error& e) {
    if (e.component() == "model" || e.component() == "scaledl") throw;  // ours, or a bug
    throw Error("model", name + " does not fit " + std::to_string(image_size) + "x" +
                             std::to_string(image_size) + " images (" + e.what() +
                             "); use a larger image size (default " +
                             std::to_string(found->info.default_image_size) + ")");
  }
}

}  // namespace scaledl
