// MobileNet v1, width 1.0 (Howard et al. 2017): conv 3x3/2 32 + BN + ReLU, 13 depthwise-
// separable blocks (3x3 depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU), global average pool,
// fc. No torchvision model exists; names are conv1, bn1, blocks.<i>.{dw_conv,dw_bn,pw_conv,pw_bn},
// fc. Init: convs kaiming_normal fan_out, fc PyTorch's default.
#include <string>

#include "models/builders.h"

namespace scaledl::models {

Graph mobilenet_v1(int in_channels, int64_t image_size, int classes) {
  struct Block {
    int out, stride;
  };
  static constexpr Block kBlocks[] = {{64, 1},  {128, 2},  {128, 1}, {256, 2}, {256, 1},
                                      {512, 2}, {512, 1},  {512, 1}, {512, 1}, {512, 1},
                                      {512, 1}, {1024, 2}, {1024, 1}};
  Graph g("mobilenet_v1", image_shape(in_channels, image_size));
  int x = g.relu(g.bn(g.conv(g.input(), 32, 3, 2, 1, "conv1"), "bn1"));
  int c = 32;
  int i = 0;
  for (const Block& b : kBlocks) {
    const std::string p = "blocks." + std::to_string(i++) + ".";
    x = g.relu(g.bn(g.conv(x, c, 3, b.stride, 1, p + "dw_conv", c), p + "dw_bn"));
    x = g.relu(g.bn(g.conv(x, b.out, 1, 1, 0, p + "pw_conv"), p + "pw_bn"));
    c = b.out;
  }
  x = g.global_avgpool(x);
  g.linear(x, classes, "fc");
  return g;
}

}  // namespace scaledl::models
