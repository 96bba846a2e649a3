// SGD over a Net (PyTorch semantics, no decay on BN/bias when asked) and LR schedules.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

namespace scaledl {
namespace {

TEST(Sgd, MatchesTorchFormulaWithPerParameterDecay) {
  Graph g("lin", Shape{3});
  g.linear(g.input(), 2, "fc");
  Net net(g);
  net.init(1);
  Tensor w = net.params()[0].value, b = net.params()[1].value;
  Tensor gw = net.params()[0].grad, gb = net.params()[1].grad;
  std::vector<float> w0 = w.to_vector(), b0 = b.to_vector();
  SgdConfig c;
  c.momentum = 0.9f;
  c.nesterov = true;
  c.weight_decay = 0.1f;
  c.decay_norm_and_bias = false;
  Sgd sgd(net, c);
  gw.fill(0.5f);
  gb.fill(-1.f);
  sgd.step(0.2f);
  sgd.step(0.2f);
  // torch.optim.SGD(nesterov=True): g = grad + wd*p; buf = 0.9*buf + g; p -= lr*(g + 0.9*buf)
  for (int i = 0; i < 6; ++i) {
    double p = w0[i], buf = 0;
    for (int s = 0; s < 2; ++s) {
      double g = 0.5 + 0.1 * p;
      buf = 0.9 * buf + g;
      p -= 0.2 * (g + 0.9 * buf);
    }
    EXPECT_NEAR(w.at(i), p, 1e-5);
  }
  double p = b0[0], buf = 0;  // bias: no decay
  for (int s = 0; s < 2; ++s) {
    buf = 0.9 * buf - 1.0;
    p -= 0.2 * (-1.0 + 0.9 * buf);
  }
  EXPECT_NEAR(b.at(0), p, 1e-5);
  EXPECT_EQ(sgd.state()[0].first, "momentum.fc.weight");
}

TEST(Schedule, WarmupThenDecay) {
  Schedule s;
  s.base_lr = 1.f;
  s.warmup_steps = 4;
  s.total_steps = 104;
  s.kind = Schedule::Kind::cosine;
  EXPECT_FLOAT_EQ(lr_at(s, 0), 0.25f);
  EXPECT_FLOAT_EQ(lr_at(s, 3), 1.f);
  EXPECT_FLOAT_EQ(lr_at(s, 4), 1.f);
  EXPECT_NEAR(lr_at(s, 54), 0.5f, 1e-6);
  EXPECT_NEAR(lr_at(s, 103), 0.5f * (1 + std::cos(M_PI * 99 / 100)), 1e-6);
  s.kind = Schedule::Kind::poly;
  s.power = 2.f;
  EXPECT_NEAR(lr_at(s, 54), 0.25f, 1e-6);
  s.kind = Schedule::Kind::step;
  s.milestones = {30, 60};
  EXPECT_FLOAT_EQ(lr_at(s, 29), 1.f);
  EXPECT_FLOAT_EQ(lr_at(s, 30), 0.1f);
  EXPECT_NEAR(lr_at(s, 60), 0.01f, 1e-8);
}

}  // namespace
}  // namespace scaledl
