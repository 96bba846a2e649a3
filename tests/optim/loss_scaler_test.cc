// LossScaler: growth after a run of clean steps, backoff and a skipped step on overflow,
// the floor, and the disabled mode.
#include <gtest/gtest.h>

#include <limits>

#include "optim/loss_scaler.h"

namespace scaledl {
namespace {

TEST(LossScaler, GrowsAfterTheIntervalAndBacksOffOnOverflow) {
  LossScalerConfig c;
  c.init_scale = 1024.f;
  c.growth_interval = 3;
  LossScaler s(c);
  EXPECT_EQ(s.scale(), 1024.f);
  EXPECT_TRUE(s.update(true));
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 1024.f);
  EXPECT_TRUE(s.update(true));  // third clean step in a row: doubles
  EXPECT_EQ(s.scale(), 2048.f);
  EXPECT_EQ(s.growths(), 1);
  EXPECT_TRUE(s.update(true));
  EXPECT_TRUE(s.update(true));
  EXPECT_FALSE(s.update(false));  // overflow: the step is skipped, the scale halves
  EXPECT_EQ(s.scale(), 1024.f);
  EXPECT_EQ(s.skipped(), 1);
  EXPECT_EQ(s.clean_steps(), 0);  // the run of clean steps starts over
  EXPECT_TRUE(s.update(true));
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 1024.f);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 2048.f);
}

TEST(LossScaler, NeverReachesZeroOrInfinity) {
  LossScalerConfig c;
  c.init_scale = 4.f;
  LossScaler s(c);
  for (int i = 0; i < 300; ++i) EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale(), std::numeric_limits<float>::min());
  EXPECT_EQ(s.skipped(), 300);
  c.init_scale = std::numeric_limits<float>::max() / 1.5f;
  c.growth_interval = 1;
  LossScaler big(c);
  EXPECT_TRUE(big.update(true));
  EXPECT_EQ(big.scale(), c.init_scale);  // doubling would overflow: kept
  EXPECT_EQ(big.growths(), 0);
}

TEST(LossScaler, DisabledKeepsScaleOneAndAppliesEveryStep) {
  LossScalerConfig c;
  c.enabled = false;
  LossScaler s(c);
  EXPECT_EQ(s.scale(), 1.f);
  EXPECT_TRUE(s.update(false));
  EXPECT_EQ(s.scale(), 1.f);
  EXPECT_EQ(s.skipped(), 0);
}

TEST(LossScaler, RestoreContinuesFromACheckpointedState) {
  LossScalerConfig c;
  c.growth_interval = 4;
  LossScaler s(c);
  s.restore(512.f, 3);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 1024.f);
}

}  // namespace
}  // namespace scaledl
