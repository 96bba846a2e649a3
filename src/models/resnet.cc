// ResNet v1.5 18/34/50/101/152 as torchvision builds it: stride in the bottleneck's 3x3 conv,
// 1x1 conv + BN downsample, the last BN of each residual branch marked for zero-init.
#include <string>
#include <vector>

#include "models/builders.h"

namespace scaledl::models {

namespace {

// conv1 (3x3, stride) -> bn1 -> relu -> conv2 (3x3) -> bn2, expansion 1.
int basic_branch(Graph& g, int x, int planes, int stride, const std::string& p) {
  int y = g.relu(g.bn(g.conv(x, planes, 3, stride, 1, p + "conv1"), p + "bn1"));
  return g.bn(g.conv(y, planes, 3, 1, 1, p + "conv2"), p + "bn2", true);
}

// 1x1 -> 3x3 (stride) -> 1x1 (4 x planes), expansion 4.
int bottleneck_branch(Graph& g, int x, int planes, int stride, const std::string& p) {
  int y = g.relu(g.bn(g.conv(x, planes, 1, 1, 0, p + "conv1"), p + "bn1"));
  y = g.relu(g.bn(g.conv(y, planes, 3, stride, 1, p + "conv2"), p + "bn2"));
  return g.bn(g.conv(y, planes * 4, 1, 1, 0, p + "conv3"), p + "bn3", true);
}

struct Spec {
  bool bottleneck;
  std::vector<int> blocks;
};

Spec spec_for(int depth) {
  switch (depth) {
    case 18:
      return {false, {2, 2, 2, 2}};
    case 34:
      return {false, {3, 4, 6, 3}};
    case 50:
      return {true, {3, 4, 6, 3}};
    case 101:
      return {true, {3, 4, 23, 3}};
    default:
      return {true, {3, 8, 36, 3}};  // 152
  }
}

}  // namespace

Graph resnet(int depth, int in_channels, int64_t image_size, int classes) {
  Graph g("resnet" + std::to_string(depth), image_shape(in_channels, image_size));
  const Spec s = spec_for(depth);
  const int expansion = s.bottleneck ? 4 : 1;
  int x = g.relu(g.bn(g.conv(g.input(), 64, 7, 2, 3, "conv1"), "bn1"));
  x = g.maxpool(x, 3, 2, 1);
  int in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int planes = 64 << stage;
    for (int b = 0; b < s.blocks[stage]; ++b) {
      const int stride = stage > 0 && b == 0 ? 2 : 1;
      const std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
      int branch = s.bottleneck ? bottleneck_branch(g, x, planes, stride, p)
                                : basic_branch(g, x, planes, stride, p);
      int shortcut = x;
      if (stride != 1 || in != planes * expansion)
        shortcut = g.bn(g.conv(x, planes * expansion, 1, stride, 0, p + "downsample.0"),
                           p + "downsample.1");
      x = g.relu(g.add(branch, shortcut));
      in = planes * expansion;
    }
  }
  x = g.global_avgpool(x);
  g.linear(x, classes, "fc");
  return g;
}

}  // namespace scaledl::models
