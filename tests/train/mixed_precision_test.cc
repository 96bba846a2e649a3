// Mixed-precision training end to end on the cpu's emulation (f32 math, each op's output
// rounded to f16/bf16): LeNet-5 on Fashion-MNIST for 300 steps reaches the fp32 run's accuracy,
// fp16's dynamic loss scaling backs off exactly once per skipped step, and a resumed fp16 run
// continues with the checkpointed scale.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"

namespace {

namespace fs = std::filesystem;

nlohmann::json train(const fs::path& dir, const std::string& precision,
                     const std::string& extra = "", const std::string& name = "") {
  const std::string rd = (dir / (name.empty() ? precision : name)).string();
  const auto r = scaledl::testing::run_cli(
      "train --model lenet5 --steps 300 --batch 64 --lr 0.05 --threads 1 --precision " + precision +
      " --run-dir " + rd + extra);
  EXPECT_EQ(r.code, 0) << r.out;
  std::ifstream f(rd + "/summary.json");
  return nlohmann::json::parse(f);
}

TEST(MixedPrecision, EmulatedFp16AndBf16TrainLikeFp32) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "needs dataset-fashion-mnist (scripts/setup installs it)";
  const fs::path d = scaledl::testing::fresh_temp_dir("mixed_precision");
  const nlohmann::json f32 = train(d, "fp32"), f16 = train(d, "fp16"), bf16 = train(d, "bf16");
  const double base = f32["top1"];
  EXPECT_GT(base, 70.0);  // 300 steps of LeNet-5: 77.4% when this test was written
  EXPECT_NEAR(f16["top1"].get<double>(), base, 1.0);
  EXPECT_NEAR(bf16["top1"].get<double>(), base, 1.0);
  EXPECT_EQ(f16["precision"], "fp16");
  // 300 steps are fewer than the growth interval (2000): the scale only backs off, halving
  // from 2^16 once per skipped step.
  const int64_t skipped = f16["loss_scale"]["skipped_steps"];
  EXPECT_LT(skipped, 10);
  EXPECT_EQ(f16["loss_scale"]["growths"], 0);
  EXPECT_EQ(f16["loss_scale"]["final"].get<double>(),
            std::ldexp(65536.0, -static_cast<int>(skipped)));
  EXPECT_TRUE(bf16["loss_scale"].is_null());  // bf16 has f32's exponent range: no scaling
  EXPECT_TRUE(f32["loss_scale"].is_null());

  // Interrupted at step 150 and resumed: the checkpoint carries the loss scale, so the run
  // ends exactly where the uninterrupted one did.
  train(d, "fp16", " --stop-after 150", "fp16-resumed");
  const nlohmann::json resumed = train(d, "fp16", " --resume auto", "fp16-resumed");
  EXPECT_EQ(resumed["final_loss"], f16["final_loss"]);
  EXPECT_EQ(resumed["top1"], f16["top1"]);
  EXPECT_EQ(resumed["loss_scale"]["final"], f16["loss_scale"]["final"]);
  fs::remove_all(d);
}

}  // namespace
