// CIFAR ResNets (He et al. 2016, section 4.2): 3x3 conv 16, three stages of n BasicBlocks at
// widths 16/32/64 (depth 6n + 2), option A shortcuts (stride-2 subsampling and zero channels,
// no parameters), global average pool, fc. Names follow the torchvision ResNet convention.
#include <string>

#include "models/builders.h"
#include "nn/channel_pad.h"

namespace scaledl::models {

std::unique_ptr<Net> resnet_cifar(int depth, int in_channels, int64_t image_size, int classes) {
  auto net =
      std::make_unique<Net>("resnet" + std::to_string(depth), image_shape(in_channels, image_size));
  const int n = (depth - 2) / 6;
  int x = net->relu(net->bn(net->conv(net->input(), 16, 3, 1, 1, "conv1"), "bn1"));
  int in = 16;
  for (int stage = 0; stage < 3; ++stage) {
    const int planes = 16 << stage;
    for (int b = 0; b < n; ++b) {
      const int stride = stage > 0 && b == 0 ? 2 : 1;
      const std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
      int y = net->relu(net->bn(net->conv(x, planes, 3, stride, 1, p + "conv1"), p + "bn1"));
      y = net->bn(net->conv(y, planes, 3, 1, 1, p + "conv2"), p + "bn2", true);
      int shortcut = x;
      if (stride != 1) shortcut = net->avgpool(shortcut, 1, stride);  // x[:, :, ::2, ::2]
      if (in != planes) shortcut = net->add(std::make_unique<ChannelPad>(planes - in), {shortcut});
      x = net->relu(net->add(y, shortcut));
      in = planes;
    }
  }
  x = net->global_avgpool(x);
  net->linear(x, classes, "fc");
  return net;
}

}  // namespace scaledl::models
