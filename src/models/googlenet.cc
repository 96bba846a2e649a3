// GoogLeNet (Inception v1) as torchvision builds it, without the auxiliary classifiers and
// without transform_input: BasicConv2d = conv (no bias) + BN (eps 0.001) + ReLU, ceil-mode max
// pools, a 3x3 conv (torchvision's choice, not the paper's 5x5) in the third branch, dropout 0.2
// and fc. Init as torchvision: conv and fc weights N(0, 0.01) (its truncation at +-2 never bites).
#include <string>

#include "models/builders.h"

namespace scaledl::models {

namespace {

int basic_conv(Graph& g, int x, int out, int kernel, int pad, const std::string& name,
               int stride = 1) {
  x = g.conv(x, out, kernel, stride, pad, name + ".conv", 1, false, Init::normal_001);
  x = g.bn(x, name + ".bn", false, 0.001f);
  return g.relu(x);
}

struct Inception {
  int ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj;
};

int inception(Graph& g, int x, const Inception& c, const std::string& name) {
  const std::string p = name + ".";
  int b1 = basic_conv(g, x, c.ch1x1, 1, 0, p + "branch1");
  int b2 = basic_conv(g, x, c.ch3x3red, 1, 0, p + "branch2.0");
  b2 = basic_conv(g, b2, c.ch3x3, 3, 1, p + "branch2.1");
  int b3 = basic_conv(g, x, c.ch5x5red, 1, 0, p + "branch3.0");
  b3 = basic_conv(g, b3, c.ch5x5, 3, 1, p + "branch3.1");
  int b4 = g.maxpool(x, 3, 1, 1, true);
  b4 = basic_conv(g, b4, c.pool_proj, 1, 0, p + "branch4.1");
  return g.concat({b1, b2, b3, b4});
}

}  // namespace

Graph googlenet(int in_channels, int64_t image_size, int classes) {
  Graph g("googlenet", image_shape(in_channels, image_size));
  int x = basic_conv(g, g.input(), 64, 7, 3, "conv1", 2);
  x = g.maxpool(x, 3, 2, 0, true);
  x = basic_conv(g, x, 64, 1, 0, "conv2");
  x = basic_conv(g, x, 192, 3, 1, "conv3");
  x = g.maxpool(x, 3, 2, 0, true);
  x = inception(g, x, {64, 96, 128, 16, 32, 32}, "inception3a");
  x = inception(g, x, {128, 128, 192, 32, 96, 64}, "inception3b");
  x = g.maxpool(x, 3, 2, 0, true);
  x = inception(g, x, {192, 96, 208, 16, 48, 64}, "inception4a");
  x = inception(g, x, {160, 112, 224, 24, 64, 64}, "inception4b");
  x = inception(g, x, {128, 128, 256, 24, 64, 64}, "inception4c");
  x = inception(g, x, {112, 144, 288, 32, 64, 64}, "inception4d");
  x = inception(g, x, {256, 160, 320, 32, 128, 128}, "inception4e");
  x = g.maxpool(x, 2, 2, 0, true);
  x = inception(g, x, {256, 160, 320, 32, 128, 128}, "inception5a");
  x = inception(g, x, {384, 192, 384, 48, 128, 128}, "inception5b");
  x = g.dropout(g.global_avgpool(x), 0.2f);
  g.linear(x, classes, "fc", true, Init::normal_001);
  return g;
}

}  // namespace scaledl::models
