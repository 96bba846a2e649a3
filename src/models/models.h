// Model builders by name: the ImageNet classics (ResNet v1.5, VGG, AlexNet, GoogLeNet,
// MobileNet v1) with torchvision's architectures and state_dict names, and the CIFAR ResNets.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace scaledl {

// The graph of a model by name for [in_channels, image_size, image_size] inputs and `classes`
// outputs. Throws Error for an unknown name, a non-positive argument, or an image too small for
// the model's downsampling.
Graph build_graph(const std::string& name, int in_channels, int64_t image_size, int classes);

struct ModelInfo {
  std::string name, description;
  int64_t default_image_size;
};

// Every model build_graph knows, in a stable order.
const std::vector<ModelInfo>& model_list();

}  // namespace scaledl
