// Internal to src/models: one builder per family (arguments already validated by build_model).
#pragma once
#include <cstdint>
#include <memory>

#include "nn/net.h"

namespace scaledl::models {

// depth: 18, 34, 50, 101, 152.
std::unique_ptr<Net> resnet(int depth, int in_channels, int64_t image_size, int classes);
// depth = 6n + 2: 8, 14, 20, 32, 44, 56, 110.
std::unique_ptr<Net> resnet_cifar(int depth, int in_channels, int64_t image_size, int classes);
// depth: 11, 16, 19.
std::unique_ptr<Net> resnet_small(int in_channels, int64_t image_size, int classes);
std::unique_ptr<Net> vgg(int depth, int in_channels, int64_t image_size, int classes);
std::unique_ptr<Net> alexnet(int in_channels, int64_t image_size, int classes);
std::unique_ptr<Net> googlenet(int in_channels, int64_t image_size, int classes);
std::unique_ptr<Net> mobilenet_v1(int in_channels, int64_t image_size, int classes);
std::unique_ptr<Net> lenet5(int in_channels, int64_t image_size, int classes);

// The Net's input shape for a square image.
inline Shape image_shape(int in_channels, int64_t image_size) {
  return {in_channels, image_size, image_size};
}

}  // namespace scaledl::models
