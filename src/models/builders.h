// Internal to src/models: one builder per family (arguments already validated by build_graph).
#pragma once
#include <cstdint>

#include "graph/graph.h"

namespace scaledl::models {

// depth: 18, 34, 50, 101, 152.
Graph resnet(int depth, int in_channels, int64_t image_size, int classes);
// depth = 6n + 2: 8, 14, 20, 32, 44, 56, 110.
Graph resnet_cifar(int depth, int in_channels, int64_t image_size, int classes);
// depth: 11, 16, 19.
Graph resnet_small(int in_channels, int64_t image_size, int classes);
Graph vgg(int depth, int in_channels, int64_t image_size, int classes);
Graph alexnet(int in_channels, int64_t image_size, int classes);
Graph googlenet(int in_channels, int64_t image_size, int classes);
Graph mobilenet_v1(int in_channels, int64_t image_size, int classes);
Graph lenet5(int in_channels, int64_t image_size, int classes);

// The Net's input shape for a square image.
inline Shape image_shape(int in_channels, int64_t image_size) {
  return {in_channels, image_size, image_size};
}

}  // namespace scaledl::models
