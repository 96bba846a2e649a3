// Gradient memory planning (src/nn/net_memory.cc): the activation gradients share one arena by
// liveness. A planned net must train bit for bit like the unplanned one (a buffer shared too
// early changes the gradients, and with them every later loss), and its arena must be a small
// part of one buffer per node. Planned nets also run each batch norm and its in-place ReLU as
// one kernel (other kernels, so within float rounding of the pair, not bit for bit).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "core/rng.h"
#include "models/models.h"
#include "nn/net.h"
#include "ops/ops.h"
#include "optim/sgd.h"

namespace scaledl {
namespace {

struct Trained {
  std::vector<float> losses, params;
  Net::Memory memory;
};

// `steps` SGD steps on random batches of 4, the same for every call.
Trained train(const std::string& model, int64_t size, Layout layout, DType compute, bool planned,
              int steps, bool fused = false) {
  Net net(build_graph(model, 3, size, 10));
  net.init(7);
  net.place(Device::cpu(), compute);
  net.set_memory_planning(planned);
  net.set_fuse_bn_relu(fused);
  net.setup(4, layout);
  Sgd sgd(net, SgdConfig{});
  Rng rng(5);
  Tensor x = Tensor::empty({4, 3, size, size});
  Tensor labels = Tensor::empty({4}, DType::s32);
  Tensor loss = Tensor::empty({1}), dlogits = Tensor::empty({4, 10});
  Trained out;
  for (int s = 0; s < steps; ++s) {
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = rng.uniform(-1.f, 1.f);
    for (int i = 0; i < 4; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(rng.below(10));
    RunContext ctx;
    ctx.step = s;
    ops::softmax_cross_entropy(net.forward(x, ctx), labels, 0.f, loss, dlogits);
    out.losses.push_back(loss.at(0));
    net.backward(dlogits, ctx);
    sgd.step(0.05f);
  }
  out.params = net.flat_params().to_vector();
  out.memory = net.memory();
  return out;
}

// resnet8: residual adds (a pass-through gradient) and the option-A shortcut's pooling and
// channel padding; googlenet: inception branches fanning out of one input (scratch buffers)
// and concatenation; resnet18: 1x1-conv shortcuts beside the residual branch. bf16 runs the
// emulated mixed precision (gradients in the compute dtype).
class NetMemory : public ::testing::TestWithParam<std::tuple<std::string, int, Layout, DType>> {};

TEST_P(NetMemory, PlannedTrainsBitIdenticallyToUnplannedOver20Steps) {
  const auto& [model, size, layout, compute] = GetParam();
  const Trained planned = train(model, size, layout, compute, true, 20);
  const Trained unplanned = train(model, size, layout, compute, false, 20);
  ASSERT_EQ(planned.losses.size(), 20u);
  for (size_t s = 0; s < planned.losses.size(); ++s)
    ASSERT_EQ(planned.losses[s], unplanned.losses[s]) << "step " << s;
  ASSERT_EQ(planned.params.size(), unplanned.params.size());
  for (size_t i = 0; i < planned.params.size(); ++i)
    ASSERT_EQ(planned.params[i], unplanned.params[i]) << "parameter element " << i;
  // The losses moved (a net that never trained would pass the comparison trivially).
  EXPECT_NE(planned.losses.front(), planned.losses.back());
  EXPECT_EQ(unplanned.memory.gradient_bytes, unplanned.memory.gradient_bytes_unplanned);
  EXPECT_LT(planned.memory.gradient_bytes, unplanned.memory.gradient_bytes / 2)
      << planned.memory.gradient_bytes << " of " << unplanned.memory.gradient_bytes;
  // ReLUs in place: fewer activation bytes, with the same losses.
  EXPECT_LT(planned.memory.activation_bytes, unplanned.memory.activation_bytes);
  EXPECT_EQ(planned.memory.fused_bn_relu, 0);
}

// The same nets with each batch norm and its ReLU fused (other kernels than the pair's, so not
// bit for bit on every CPU): the first 5 losses within 1e-4 of the unfused planned net's (bf16:
// 1e-2). Later steps are not compared: random labels and 20 steps of lr 0.05 make resnet18 chaotic,
// and any last-bit difference grows (it prints them; on the EPYC both runs match bit for bit).
TEST_P(NetMemory, FusedBatchNormReluTrainsLikeThePair) {
  const auto& [model, size, layout, compute] = GetParam();
  const Trained fused = train(model, size, layout, compute, true, 20, true);
  const Trained pair = train(model, size, layout, compute, true, 20, false);
  // Every model here has batch norms followed by ReLUs.
  EXPECT_GT(fused.memory.fused_bn_relu, 0);
  EXPECT_EQ(pair.memory.fused_bn_relu, 0);
  EXPECT_EQ(fused.memory.activation_bytes, pair.memory.activation_bytes);
  const double tol = compute == DType::f32 ? 1e-4 : 1e-2;
  for (size_t s = 0; s < 5; ++s)
    EXPECT_NEAR(fused.losses[s], pair.losses[s], tol * std::fabs(pair.losses[s])) << "step " << s;
  double worst = 0;
  for (size_t i = 0; i < fused.params.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::fabs(fused.params[i] - pair.params[i])));
  std::printf("%s: %d pairs fused; loss %.6f vs %.6f at step 20; largest parameter diff %.3g\n",
              model.c_str(), fused.memory.fused_bn_relu, fused.losses.back(), pair.losses.back(),
              worst);
}

INSTANTIATE_TEST_SUITE_P(
    Models, NetMemory,
    ::testing::Values(std::make_tuple("resnet8", 16, Layout::nchw, DType::f32),
                      std::make_tuple("resnet8", 16, Layout::nhwc, DType::bf16),
                      std::make_tuple("googlenet", 32, Layout::nhwc, DType::f32),
                      std::make_tuple("resnet18", 32, Layout::nchw, DType::f32)));

// ResNet-50 at batch 2 (setup only), planned and not: the gradient arena against one buffer per
// node, and the activations with every conv-BN-ReLU's and residual sum's ReLU in place.
TEST(NetMemory, Resnet50PlannedKeepsASmallGradientArenaAndFewerActivations) {
  Net net(build_graph("resnet50", 3, 224, 1000));
  net.init(1);
  net.setup(2, Layout::nhwc);
  const Net::Memory m = net.memory();
  net.set_memory_planning(false);
  net.setup(2, Layout::nhwc);
  const Net::Memory u = net.memory();
  EXPECT_EQ(u.gradient_bytes, u.gradient_bytes_unplanned);
  EXPECT_EQ(m.gradient_bytes_unplanned, u.gradient_bytes_unplanned);
  EXPECT_GT(m.gradient_bytes, 0);
  EXPECT_LT(m.gradient_bytes * 8, m.gradient_bytes_unplanned)
      << m.gradient_bytes << " of " << m.gradient_bytes_unplanned;
  // Of ResNet-50's node outputs, the ReLUs after BN and after the residual sums are about a
  // third of the bytes.
  EXPECT_LT(m.activation_bytes * 4, u.activation_bytes * 3)
      << m.activation_bytes << " of " << u.activation_bytes;
  // The stem's and each bottleneck's first two batch norms feed a ReLU (1 + 16 x 2); the third
  // feeds the residual sum.
  EXPECT_EQ(m.fused_bn_relu, 33);
  net.set_fuse_bn_relu(false);  // affects only planned setups
  net.setup(2, Layout::nhwc);
  EXPECT_EQ(net.memory().fused_bn_relu, 0);
  EXPECT_EQ(u.fused_bn_relu, 0);
}

}  // namespace
}  // namespace scaledl
