// CIFAR ResNets (He et al. 2016, section 4.2): 3x3 conv 16, three stages of n BasicBlocks at
// widths 16/32/64 (depth 6n + 2), option A shortcuts (stride-2 subsampling and zero channels,
// no parameters), global average pool, fc. Names follow the torchvision ResNet convention.
#include <string>

#include "models/builders.h"

namespace scaledl::models {

Graph resnet_cifar(int depth, int in_channels, int64_t image_size, int classes) {
  Graph g("resnet" + std::to_string(depth), image_shape(in_channels, image_size));
  const int n = (depth - 2) / 6;
  int x = g.relu(g.bn(g.conv(g.input(), 16, 3, 1, 1, "conv1"), "bn1"));
  int in = 16;
  for (int stage = 0; stage < 3; ++stage) {
    const int planes = 16 << stage;
    for (int b = 0; b < n; ++b) {
      const int stride = stage > 0 && b == 0 ? 2 : 1;
      const std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
      int y = g.relu(g.bn(g.conv(x, planes, 3, stride, 1, p + "conv1"), p + "bn1"));
      y = g.bn(g.conv(y, planes, 3, 1, 1, p + "conv2"), p + "bn2", true);
      int shortcut = x;
      if (stride != 1) shortcut = g.avgpool(shortcut, 1, stride);  // x[:, :, ::2, ::2]
      if (in != planes) shortcut = g.channel_pad(shortcut, planes - in);
      x = g.relu(g.add(y, shortcut));
      in = planes;
    }
  }
  x = g.global_avgpool(x);
  g.linear(x, classes, "fc");
  return g;
}

}  // namespace scaledl::models
