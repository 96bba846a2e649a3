// LARS: the update equals the LARC formula computed by hand for weights and biases.
#include "optim/lars.h"

#include <gtest/gtest.h>

#include <cmath>

#include "models/models.h"
#include "nn/net.h"

namespace scaledl {
namespace {

TEST(Lars, UpdateMatchesTheFormula) {
  auto net = std::make_unique<Net>(build_graph("lenet5", 1, 28, 10));
  net->init(3);
  const auto& params = net->params();
  for (const NetParam& p : params)
    for (int64_t k = 0; k < p.grad.numel(); ++k)
      p.grad.data<float>()[k] = 0.01f * static_cast<float>((k % 13) - 6);
  std::vector<std::vector<float>> w0, g0;
  for (const NetParam& p : params) {
    w0.emplace_back(p.value.data<float>(), p.value.data<float>() + p.value.numel());
    g0.emplace_back(p.grad.data<float>(), p.grad.data<float>() + p.grad.numel());
  }
  LarsConfig c;
  c.eta = 0.02f;
  c.weight_decay = 1e-3f;
  c.momentum = 0.9f;
  Lars lars(*net, c);
  const float lr = 0.5f, scale = 0.25f;
  lars.step(lr, scale);
  for (size_t i = 0; i < params.size(); ++i) {
    const NetParam& p = params[i];
    double wn = 0, gn = 0;
    for (size_t k = 0; k < w0[i].size(); ++k) wn += w0[i][k] * w0[i][k], gn += g0[i][k] * g0[i][k];
    wn = std::sqrt(wn), gn = std::sqrt(gn) * scale;
    const double trust = p.is_norm_or_bias ? 1.0 : c.eta * wn / (gn + c.weight_decay * wn);
    EXPECT_NEAR(lars.trust()[i], trust, 1e-6 * trust) << p.name;
    for (size_t k = 0; k < w0[i].size(); k += 97) {
      // First step: momentum buffer = the adjusted gradient; w -= lr * it.
      const double g = p.is_norm_or_bias ? g0[i][k] * scale
                                         : trust * (g0[i][k] * scale + c.weight_decay * w0[i][k]);
      EXPECT_NEAR(p.value.data<float>()[k], w0[i][k] - lr * g, 1e-6) << p.name << "[" << k << "]";
    }
  }
}

}  // namespace
}  // namespace scaledl
