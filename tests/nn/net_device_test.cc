// Net::place: placement and compute dtype. On the host: f32 placement changes nothing, f16 and
// bf16 are emulated within their rounding, and the loss scale reaches every gradient exactly.
// With a GPU:
// the same small net on cuda agrees with the cpu in f32, and in f16/bf16 within their rounding.
#include <gtest/gtest.h>

#include <cmath>

#include "core/device_memory.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/net.h"
#include "ops/ops.h"

namespace scaledl {
namespace {

// conv-bn-relu, a residual add, max pooling, global pooling, linear. smooth: without relu and
// with average pooling, so rounding cannot flip a kink's decision (a flipped max or relu moves
// a gradient wholesale, which says nothing about the precision of the arithmetic).
std::unique_ptr<Net> small_net(bool smooth = false) {
  Graph g("small", Shape{3, 9, 7});
  auto act = [&](int x) { return smooth ? x : g.relu(x); };
  int x = act(g.bn(g.conv(g.input(), 8, 3, 1, 1, "conv1"), "bn1"));
  int y = g.conv(x, 8, 3, 1, 1, "block.conv1");
  y = g.bn(y, "block.bn1");
  x = act(g.add(y, x));
  x = g.global_avgpool(smooth ? g.avgpool(x, 3, 2, 1) : g.maxpool(x, 3, 2, 1));
  g.linear(x, 5, "fc");
  auto net = std::make_unique<Net>(g);
  net->init(7);
  return net;
}

Tensor random_input(int64_t n) {
  Tensor t = Tensor::empty({n, 3, 9, 7});
  Rng r(3);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = r.uniform(-1.f, 1.f);
  return t;
}

Tensor labels_for(int64_t n) {
  Tensor t = Tensor::empty({n}, DType::s32);
  for (int64_t i = 0; i < n; ++i) t.data<int32_t>()[i] = static_cast<int32_t>(i % 5);
  return t;
}

// One forward and backward; returns (logits, flat gradients) on the host.
std::pair<std::vector<float>, std::vector<float>> step(Net& net, const Tensor& x,
                                                       const Tensor& labels, float scale) {
  RunContext ctx;
  const Tensor& logits = net.forward(x, ctx);
  const Device d = net.device();
  Tensor loss = Tensor::empty({1}, DType::f32, d), dl = Tensor::empty(logits.shape(), DType::f32, d);
  ops::softmax_cross_entropy(logits, labels.to(d), 0.f, loss, dl);
  net.backward(dl, ctx, scale);
  return {logits.to_vector(), net.flat_grads().to_vector()};
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b, double floor) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(floor, std::fabs(double(b[i]))));
  return worst;
}

TEST(NetDevice, PlacingOnTheCpuInF32ChangesNothing) {
  auto a = small_net(), b = small_net();
  b->place(Device::cpu(), DType::f32);
  a->setup(4, Layout::nhwc);
  b->setup(4, Layout::nhwc);
  const Tensor x = random_input(4), labels = labels_for(4);
  const auto ra = step(*a, x, labels, 1.f), rb = step(*b, x, labels, 1.f);
  EXPECT_EQ(ra.first, rb.first);
  EXPECT_EQ(ra.second, rb.second);
}

TEST(NetDevice, LossScaleMultipliesEveryGradient) {
  auto a = small_net(), b = small_net();
  a->setup(4, Layout::nchw);
  b->setup(4, Layout::nchw);
  const Tensor x = random_input(4), labels = labels_for(4);
  const auto ra = step(*a, x, labels, 1.f), rb = step(*b, x, labels, 1024.f);
  ASSERT_EQ(ra.second.size(), rb.second.size());
  size_t nonzero = 0;
  for (size_t i = 0; i < ra.second.size(); ++i) {
    // A power of two scales f32 exactly, through every op of the backward pass.
    EXPECT_EQ(rb.second[i], 1024.f * ra.second[i]) << "gradient element " << i;
    nonzero += ra.second[i] != 0.f;
  }
  EXPECT_GT(nonzero, ra.second.size() / 2);
}

TEST(NetDevice, HalfComputeOnTheCpuIsEmulatedWithinRounding) {
  auto ref = small_net(true);
  ref->setup(8, Layout::nhwc);
  const Tensor x = random_input(8), labels = labels_for(8);
  const auto want = step(*ref, x, labels, 1.f);
  for (DType t : {DType::f16, DType::bf16}) {
    auto net = small_net(true);
    net->place(Device::cpu(), t);
    net->setup(8, Layout::nhwc);
    const float scale = t == DType::f16 ? 1024.f : 1.f;
    auto got = step(*net, x, labels, scale);
    for (float& g : got.second) g /= scale;
    // f16: 11 significant bits, bf16: 8 (measured worst: 0.008 and 0.033).
    const double tol = t == DType::f16 ? 2e-2 : 1e-1;
    EXPECT_LT(max_rel_diff(got.first, want.first, 0.1), tol) << dtype_name(t);
    EXPECT_LT(max_rel_diff(got.second, want.second, 0.01), tol) << dtype_name(t);
    // Rounding happened: the half run is close to, not equal to, the f32 run.
    EXPECT_NE(got.first, want.first) << dtype_name(t);
    EXPECT_EQ(net->flat_params().dtype(), DType::f32);
    EXPECT_EQ(net->flat_params().to_vector(), ref->flat_params().to_vector());
  }
  EXPECT_THROW(small_net()->place(Device::cpu(), DType::s8), Error);
}

TEST(NetDevice, CudaAgreesWithCpuInF32AndWithinRoundingInHalfTypes) {
  if (cuda_device_count() == 0 || !supports("conv2d_forward", Backend::cuda))
    GTEST_SKIP() << "needs a CUDA GPU and a CUDA build: " << cuda_unavailable_reason();
  const Tensor x = random_input(8), labels = labels_for(8);
  auto cpu = small_net(true);
  cpu->setup(8, Layout::nhwc);
  const auto want = step(*cpu, x, labels, 1.f);
  struct Case {
    DType dtype;
    float scale;
    double logits_tol, grad_tol;
  };
  for (const Case c : {Case{DType::f32, 1.f, 1e-4, 1e-3}, Case{DType::f16, 1024.f, 2e-2, 5e-2},
                       Case{DType::bf16, 1.f, 8e-2, 2e-1}}) {
    auto gpu = small_net(true);
    gpu->place(Device::cuda(0), c.dtype);
    gpu->setup(8, Layout::nhwc);
    auto got = step(*gpu, x, labels, c.scale);
    for (float& g : got.second) g /= c.scale;
    EXPECT_LT(max_rel_diff(got.first, want.first, 0.1), c.logits_tol) << dtype_name(c.dtype);
    EXPECT_LT(max_rel_diff(got.second, want.second, 0.01), c.grad_tol) << dtype_name(c.dtype);
    // The master weights are f32 and unchanged by a forward/backward pass.
    EXPECT_EQ(gpu->flat_params().dtype(), DType::f32);
    EXPECT_EQ(gpu->flat_params().to_vector(), cpu->flat_params().to_vector());
  }
}

}  // namespace
}  // namespace scaledl
