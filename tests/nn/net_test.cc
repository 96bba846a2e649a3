// Net: flat parameter views, and the whole graph's backward (including gradient accumulation at a
// residual fan-out) against a directional finite difference of the loss.
#include "nn/net.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "ops/ops.h"

namespace scaledl {
namespace {

// conv-bn-relu, a residual block whose input fans out to both branches, pooling, linear.
// smooth: without ReLU and max pooling, so finite differences are exact to rounding.
std::unique_ptr<Net> small_net(bool smooth = false) {
  Graph g("small", Shape{3, 9, 7});
  auto act = [&](int x) { return smooth ? x : g.relu(x); };
  int x = g.conv(g.input(), 8, 3, 1, 1, "conv1");
  x = act(g.bn(x, "bn1"));
  int y = g.conv(x, 8, 3, 1, 1, "block.conv1");
  y = act(g.bn(y, "block.bn1"));
  y = g.conv(y, 8, 3, 1, 1, "block.conv2");
  y = g.bn(y, "block.bn2", true);
  x = act(g.add(y, x));
  x = smooth ? g.avgpool(x, 3, 2, 1) : g.maxpool(x, 3, 2, 1);
  x = g.global_avgpool(x);
  g.linear(x, 5, "fc");
  return std::make_unique<Net>(g);
}

Tensor random_tensor(const Shape& s, uint64_t seed, Layout layout = Layout::nchw) {
  Tensor t = Tensor::empty(s, DType::f32, Device::cpu(), layout);
  Rng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = r.uniform(-1.f, 1.f);
  return t;
}

double loss_of(Net& net, const Tensor& x, const Tensor& labels, Tensor* dlogits) {
  RunContext ctx;
  const Tensor& logits = net.forward(x, ctx);
  Tensor loss = Tensor::empty({1});
  Tensor d = dlogits ? *dlogits : Tensor();
  ops::softmax_cross_entropy(logits, labels, 0.1f, loss, d);
  return loss.at(0);
}

TEST(Net, ParametersAreViewsOfOneFlatBuffer) {
  auto net = small_net();
  net->init(3);
  EXPECT_EQ(net->num_params(), net->flat_params().numel());
  EXPECT_EQ(net->params().front().name, "conv1.weight");
  EXPECT_EQ(net->params().back().name, "fc.bias");
  // zero_gamma BN starts at 1 unless zero-init is asked for.
  auto find = [&](const std::string& n) {
    for (const NetParam& p : net->params())
      if (p.name == n) return p.value;
    return Tensor();
  };
  EXPECT_EQ(find("block.bn2.weight").at(0), 1.f);
  net->init(3, true);
  EXPECT_EQ(find("block.bn2.weight").at(0), 0.f);
  Tensor w = find("fc.weight");
  w.data<float>()[0] = 42.f;
  EXPECT_EQ(net->flat_params().at(net->flat_params().numel() - 5 - 5 * 8), 42.f);
  EXPECT_EQ(net->buffers().size(), 6u);  // 3 BNs x (running_mean, running_var)
}

class NetGradient : public ::testing::TestWithParam<std::tuple<Layout, bool>> {};

// Directional derivative along a random direction through every parameter. The smooth net is
// checked to 0.2%; with ReLU and max pooling, kinks crossed by the perturbation cost a few
// percent (measured: 1-3%), so that net is held to 5%. Dropping or halving the residual fan-out
// gradient changes the result by far more than either bound.
TEST_P(NetGradient, BackwardMatchesDirectionalFiniteDifference) {
  const auto [layout, smooth] = GetParam();
  auto net = small_net(smooth);
  net->init(11);
  net->setup(4, layout);
  Tensor x = random_tensor({4, 3, 9, 7}, 5);
  Tensor labels = Tensor::empty({4}, DType::s32);
  for (int i = 0; i < 4; ++i) labels.data<int32_t>()[i] = i % 5;
  Tensor dlogits = Tensor::empty({4, 5});
  loss_of(*net, x, labels, &dlogits);
  RunContext ctx;
  net->backward(dlogits, ctx);
  Tensor grad = net->flat_grads().clone();
  Tensor p0 = net->flat_params().clone();
  // Direction d: random, so every parameter contributes.
  Tensor d = random_tensor(p0.shape(), 99);
  double analytic = 0;
  for (int64_t i = 0; i < d.numel(); ++i) analytic += double(grad.at(i)) * d.at(i);
  const float eps = 1e-3f;
  auto at = [&](float s) {
    Tensor p = net->flat_params();
    for (int64_t i = 0; i < p.numel(); ++i) p.data<float>()[i] = p0.at(i) + s * d.at(i);
    return loss_of(*net, x, labels, nullptr);
  };
  double numeric = (at(eps) - at(-eps)) / (2 * eps);
  EXPECT_NEAR(numeric, analytic, (smooth ? 2e-3 : 5e-2) * std::abs(analytic) + 1e-4)
      << "layout " << layout_name(layout) << (smooth ? " smooth" : " relu/maxpool");
  // A wrong accumulation at the fan-out would halve or drop a branch: far outside this bound.
  EXPECT_GT(std::abs(analytic), 1e-2);
}

INSTANTIATE_TEST_SUITE_P(LayoutsAndNets, NetGradient,
                         ::testing::Combine(::testing::Values(Layout::nchw, Layout::nhwc),
                                            ::testing::Bool()));

TEST(Net, LayoutsAgree) {
  auto a = small_net(), b = small_net();
  a->init(4), b->init(4);
  a->setup(2, Layout::nchw), b->setup(2, Layout::nhwc);
  Tensor x = random_tensor({2, 3, 9, 7}, 8);
  RunContext ctx;
  std::vector<float> la = a->forward(x, ctx).to_vector(), lb = b->forward(x, ctx).to_vector();
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-4f);
}

TEST(Net, RejectsWrongInputShape) {
  auto net = small_net();
  net->init(1);
  net->setup(2, Layout::nhwc);
  RunContext ctx;
  EXPECT_THROW(net->forward(Tensor::zeros({2, 3, 8, 7}), ctx), Error);
}

}  // namespace
}  // namespace scaledl
