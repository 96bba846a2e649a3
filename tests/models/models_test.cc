// Model builders: exact parameter counts (torchvision's and PyTorch re-implementations'),
// FLOPs against published multiply-add counts, names and shapes against torchvision, output
// shapes, errors, and a forward/backward smoke run.
#include "models/models.h"
#include "nn/net.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"

namespace scaledl {
namespace {

struct Count {
  const char* name;
  int in_channels;
  int64_t image_size;
  int classes;
  int64_t params;
};

// torchvision.models.<name>() at 1000 classes; the CIFAR ResNets and MobileNet v1 from small
// PyTorch re-implementations (option A shortcuts; depthwise-separable stack) at 10 / 1000.
TEST(Models, ParameterCountsMatchPyTorch) {
  const Count counts[] = {
      {"resnet18", 3, 224, 1000, 11'689'512},    {"resnet34", 3, 224, 1000, 21'797'672},
      {"resnet50", 3, 224, 1000, 25'557'032},    {"resnet101", 3, 224, 1000, 44'549'160},
      {"resnet152", 3, 224, 1000, 60'192'808},   {"vgg11", 3, 224, 1000, 132'863'336},
      {"vgg16", 3, 224, 1000, 138'357'544},      {"vgg19", 3, 224, 1000, 143'667'240},
      {"alexnet", 3, 224, 1000, 61'100'840},     {"googlenet", 3, 224, 1000, 6'624'904},
      {"mobilenet_v1", 3, 224, 1000, 4'231'976}, {"resnet8", 3, 32, 10, 75'290},
      {"resnet14", 3, 32, 10, 172'506},          {"resnet20", 3, 32, 10, 269'722},
      {"resnet32", 3, 32, 10, 464'154},          {"resnet44", 3, 32, 10, 658'586},
      {"resnet56", 3, 32, 10, 853'018},          {"resnet110", 3, 32, 10, 1'727'962},
      {"resnet20", 1, 28, 10, 269'434},
      // resnet_small by hand: stem 288+64, layer1 57,728, layer2 230,144, fc 6272*10+10.
      {"resnet_small", 1, 28, 10, 350'954},
  };
  for (const Count& c : counts) {
    auto net = std::make_unique<Net>(build_graph(c.name, c.in_channels, c.image_size, c.classes));
    EXPECT_EQ(net->num_params(), c.params) << c.name;
  }
}

// Published multiply-add counts (x 2), exact from PyTorch forward hooks on conv and linear:
// ResNet-50 4.089e9, VGG-16 15.47e9, GoogLeNet 1.498e9, MobileNet v1 0.569e9, ResNet-20 40.6e6.
// Our count adds BN, pooling and residual adds (about 0.5%).
TEST(Models, FlopsNearPublishedFigures) {
  struct Flops {
    const char* name;
    int64_t image_size, classes;
    double macs;
  };
  const Flops figures[] = {{"resnet50", 224, 1000, 4'089'184'256.0},
                           {"vgg16", 224, 1000, 15'470'264'320.0},
                           {"googlenet", 224, 1000, 1'498'376'192.0},
                           {"mobilenet_v1", 224, 1000, 568'740'352.0},
                           {"resnet20", 32, 10, 40'551'040.0}};
  for (const Flops& f : figures) {
    auto net = std::make_unique<Net>(build_graph(f.name, 3, f.image_size, static_cast<int>(f.classes)));
    double flops = static_cast<double>(net->flops());
    EXPECT_GE(flops, 2 * f.macs) << f.name;
    EXPECT_LT(flops, 2 * f.macs * 1.02) << f.name;
  }
}

TEST(Models, OutputShapeAtDefaultSize) {
  for (const ModelInfo& m : model_list()) {
    auto net = std::make_unique<Net>(build_graph(m.name, 3, m.default_image_size, 7));
    EXPECT_EQ(net->output_shape(), (Shape{7})) << m.name;
    EXPECT_EQ(net->input_shape(), (Shape{3, m.default_image_size, m.default_image_size}));
    EXPECT_FALSE(m.description.empty());
  }
  EXPECT_EQ(model_list().size(), 20u);
  // LeNet-5 at 1x28x28, 10 classes: 156 + 2,416 + 48,120 + 10,164 + 850 parameters.
  EXPECT_EQ(std::make_unique<Net>(build_graph("lenet5", 1, 28, 10))->num_params(), 61706);
  EXPECT_EQ(std::make_unique<Net>(build_graph("resnet20", 1, 28, 10))->output_shape(), (Shape{10}));
  EXPECT_EQ(std::make_unique<Net>(build_graph("resnet18", 1, 28, 10))->output_shape(), (Shape{10}));
  EXPECT_EQ(std::make_unique<Net>(build_graph("googlenet", 3, 64, 10))->output_shape(), (Shape{10}));
}

TEST(Models, ErrorsNameTheProblem) {
  try {
    std::make_unique<Net>(build_graph("resnet99", 3, 224, 10));
    FAIL() << "no error for an unknown model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("known: resnet18"), std::string::npos) << e.what();
    EXPECT_EQ(e.component(), "model");
  }
  EXPECT_THROW(std::make_unique<Net>(build_graph("vgg16", 3, 16, 10)), Error);    // five 2x2 pools on 16 pixels
  EXPECT_THROW(std::make_unique<Net>(build_graph("alexnet", 3, 32, 10)), Error);  // its last pool sees 1x1
  EXPECT_THROW(std::make_unique<Net>(build_graph("resnet50", 3, 0, 10)), Error);
  EXPECT_THROW(std::make_unique<Net>(build_graph("resnet20", 0, 32, 10)), Error);
  EXPECT_THROW(std::make_unique<Net>(build_graph("resnet20", 3, 32, 0)), Error);
}

// Names and shapes of every parameter and buffer, in order, are torchvision's
// (tests/models/torchvision_names.txt, written by make_fixtures.py).
TEST(Models, NamesAndShapesMatchTorchvision) {
  std::ifstream in(std::string(SCALEDL_SOURCE_DIR) + "/tests/models/torchvision_names.txt");
  ASSERT_TRUE(in) << "missing fixture";
  std::map<std::string, std::vector<std::string>> params, buffers;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string model, kind, name, shape;
    ls >> model >> kind >> name >> shape;
    (kind == "param" ? params : buffers)[model].push_back(name + " " + shape);
  }
  auto str = [](const std::string& name, const Shape& s) {
    std::string r = name + " ";
    for (size_t i = 0; i < s.size(); ++i) {
      if (i) r += ',';
      r += std::to_string(s[i]);
    }
    return r;
  };
  ASSERT_EQ(params.size(), 2u);
  for (const auto& [model, want] : params) {
    auto net = std::make_unique<Net>(build_graph(model, 3, 224, 1000));
    net->init(1);
    std::vector<std::string> got_p, got_b;
    for (const NetParam& p : net->params()) got_p.push_back(str(p.name, p.value.shape()));
    for (const NetBuffer& b : net->buffers()) got_b.push_back(str(b.name, b.value.shape()));
    EXPECT_EQ(got_p, want) << model;
    EXPECT_EQ(got_b, buffers[model]) << model;
  }
}

TEST(Models, ResidualBranchesEndInZeroGammaWhenAsked) {
  auto net = std::make_unique<Net>(build_graph("resnet20", 3, 32, 10));
  net->init(3, /*zero_init_residual=*/true);
  int zero = 0, one = 0;
  for (const NetParam& p : net->params()) {
    if (p.name.find(".bn") == std::string::npos || p.name.find(".weight") == std::string::npos)
      continue;
    std::vector<float> v = p.value.to_vector();
    bool bn2 = p.name.find("bn2") != std::string::npos;
    EXPECT_EQ(v.front(), bn2 ? 0.f : 1.f) << p.name;
    (bn2 ? zero : one) += 1;
  }
  EXPECT_EQ(zero, 9);
  EXPECT_EQ(one, 9);
}

// One training step's forward and backward on random data: finite outputs and gradients.
void smoke(const std::string& name, int channels, int64_t size) {
  auto net = std::make_unique<Net>(build_graph(name, channels, size, 10));
  net->init(1);
  net->setup(2, Layout::nhwc);
  Tensor x = Tensor::empty({2, channels, size, size});
  Rng rng(7);
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) px[i] = rng.normal();
  RunContext ctx;
  ctx.seed = 5;
  const Tensor& y = net->forward(x, ctx);
  ASSERT_EQ(y.shape(), (Shape{2, 10})) << name;
  for (float v : y.to_vector()) ASSERT_TRUE(std::isfinite(v)) << name;
  Tensor dy = Tensor::empty(y.shape());
  dy.fill(1.f);
  net->backward(dy, ctx);
  double norm = 0;
  for (float g : net->flat_grads().to_vector()) {
    ASSERT_TRUE(std::isfinite(g)) << name;
    norm += static_cast<double>(g) * g;
  }
  EXPECT_GT(norm, 0.0) << name;
  // The first conv's gradient flows back through every stage.
  const NetParam& first = net->params().front();
  double first_norm = 0;
  for (float g : first.grad.to_vector()) first_norm += static_cast<double>(g) * g;
  EXPECT_GT(first_norm, 0.0) << name << " " << first.name;
}

TEST(Models, ForwardBackwardResnet20Mnist) {
  smoke("resnet20", 1, 28);
}
TEST(Models, ForwardBackwardGooglenet) {
  smoke("googlenet", 3, 64);
}

}  // namespace
}  // namespace scaledl
