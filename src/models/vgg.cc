// VGG-11/16/19 without batch norm, as torchvision: features.N (conv 3x3 + ReLU, 2x2 max pools),
// classifier.0/3/6 with ReLU and dropout 0.5. torchvision's AdaptiveAvgPool2d((7,7)) is the
// identity at 224; at other sizes we flatten whatever the features produce, so classifier.0 has
// 512 x (size/32)^2 inputs. Init as torchvision: convs kaiming_normal fan_out, linears
// N(0, 0.01), all biases zero.
#include <string>
#include <vector>

#include "core/error.h"
#include "models/builders.h"

namespace scaledl::models {

namespace {

constexpr int M = 0;  // a max pool in the layer lists below

std::vector<int> config(int depth) {
  switch (depth) {
    case 11:
      return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    case 16:
      return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
    default:  // 19
      return {64,  64,  M,   128, 128, M,   256, 256, 256, 256, M,
              512, 512, 512, 512, M,   512, 512, 512, 512, M};
  }
}

}  // namespace

Graph vgg(int depth, int in_channels, int64_t image_size, int classes) {
  if (image_size < 32)
    throw Error("model", "vgg" + std::to_string(depth) + " needs images of at least 32x32 (five " +
                             "2x2 max pools), got " + std::to_string(image_size) +
                             "; use a larger image size");
  Graph g("vgg" + std::to_string(depth), image_shape(in_channels, image_size));
  int x = g.input();
  int index = 0;  // torchvision's nn.Sequential index: conv and ReLU take one each
  for (int c : config(depth)) {
    if (c == M) {
      x = g.maxpool(x, 2, 2);
      index += 1;
      continue;
    }
    x = g.conv(x, c, 3, 1, 1, "features." + std::to_string(index), 1, true,
               Init::kaiming_normal_fan_out, Init::zeros);
    x = g.relu(x);
    index += 2;
  }
  x = g.flatten(x);
  for (int i : {0, 3}) {
    x = g.linear(x, 4096, "classifier." + std::to_string(i), true, Init::normal_001, Init::zeros);
    x = g.dropout(g.relu(x), 0.5f);
  }
  g.linear(x, classes, "classifier.6", true, Init::normal_001, Init::zeros);
  return g;
}

}  // namespace scaledl::models
