// VGG-11/16/19 without batch norm, as torchvision: features.N (conv 3x3 + ReLU, 2x2 max pools),
// classifier.0/3/6 with ReLU and dropout 0.5. torchvision's AdaptiveAvgPool2d((7,7)) is the
// identity at 224; at other sizes we flatten whatever the features produce, so classifier.0 has
// 512 x (size/32)^2 inputs. Init as torchvision: convs kaiming_normal fan_out, linears
// N(0, 0.01), all biases zero.
#include <string>
#include <vector>

#include "core/error.h"
#include "models/builders.h"
#include "nn/layers.h"

namespace scaledl::models {

namespace {

// The default init of Conv2d/Linear, with the bias starting at zero.
class ZeroBiasConv2d : public Conv2d {
 public:
  using Conv2d::Conv2d;
  std::vector<ParamSpec> param_specs() const override {
    std::vector<ParamSpec> s = Conv2d::param_specs();
    s.at(1).init = Init::zeros;
    return s;
  }
};

class ZeroBiasLinear : public Linear {
 public:
  using Linear::Linear;
  std::vector<ParamSpec> param_specs() const override {
    std::vector<ParamSpec> s = Linear::param_specs();
    s.at(1).init = Init::zeros;
    return s;
  }
};

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

std::unique_ptr<Net> vgg(int depth, int in_channels, int64_t image_size, int classes) {
  if (image_size < 32)
    throw Error("model", "vgg" + std::to_string(depth) + " needs images of at least 32x32 (five " +
                             "2x2 max pools), got " + std::to_string(image_size) +
                             "; use a larger image size");
  auto net =
      std::make_unique<Net>("vgg" + std::to_string(depth), image_shape(in_channels, image_size));
  int x = net->input();
  int index = 0;  // torchvision's nn.Sequential index: conv and ReLU take one each
  for (int c : config(depth)) {
    if (c == M) {
      x = net->maxpool(x, 2, 2);
      index += 1;
      continue;
    }
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    x = net->add(std::make_unique<ZeroBiasConv2d>(c, 3, p, true, Init::kaiming_normal_fan_out), {x},
                 "features." + std::to_string(index));
    x = net->relu(x);
    index += 2;
  }
  x = net->flatten(x);
  for (int i : {0, 3}) {
    x = net->add(std::make_unique<ZeroBiasLinear>(4096, true, Init::normal_001), {x},
                 "classifier." + std::to_string(i));
    x = net->dropout(net->relu(x), 0.5f);
  }
  net->add(std::make_unique<ZeroBiasLinear>(classes, true, Init::normal_001), {x}, "classifier.6");
  return net;
}

}  // namespace scaledl::models
