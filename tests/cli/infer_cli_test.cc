// scaledl infer and eval --precision on a trained checkpoint: the Engine's fp32 accuracy equals
// the training executor's, int8 reports fp32 beside it, a calibration cache is reused and a
// foreign one refused; bad input is one line and exit 2 with nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "infer/engine.h"

namespace {

namespace fs = std::filesystem;
using scaledl::testing::expect_user_error;
using scaledl::testing::run_cli;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

// A LeNet-5 trained for 200 steps on Fashion-MNIST (ctest runs each test in its own process,
// so the three parts below are one test sharing it).
fs::path train_lenet() {
  const fs::path d = scaledl::testing::fresh_temp_dir("infer_cli");
  const auto r = run_cli(
      "train --model lenet5 --steps 200 --batch 64 --lr 0.05 --threads 1 "
      "--no-eval --run-dir " +
      (d / "run").string());
  EXPECT_EQ(r.code, 0) << r.out;
  return d;
}

// One compute thread: two collapse when ctest runs another test beside this one.
const std::string kData = " --data idx:/usr/share/datasets/fashion-mnist --threads 1";

void engine_fp32_top1_equals_eval(const fs::path& d) {
  const std::string ck = " --checkpoint " + (d / "run/checkpoint.safetensors").string();
  ASSERT_EQ(run_cli("eval" + ck + kData + " --json " + (d / "eval.json").string()).code, 0);
  ASSERT_EQ(
      run_cli("eval --precision fp32" + ck + kData + " --json " + (d / "eval32.json").string())
          .code,
      0);
  const auto r = run_cli("infer --precision fp32 --batch 100" + ck + kData + " --run-dir " +
                         (d / "infer32").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto net = read_json(d / "eval.json"), eng = read_json(d / "eval32.json");
  const auto inf = read_json(d / "infer32/summary.json");
  EXPECT_GT(net["top1"].get<double>(), 60.0);  // it learned
  EXPECT_EQ(net["top1"], eng["top1"]);
  EXPECT_EQ(net["top1"], inf["top1"]);
  EXPECT_EQ(inf["samples"], 10000);
  EXPECT_GT(inf["unplanned_activation_bytes"].get<int64_t>(),
            inf["peak_activation_bytes"].get<int64_t>());
}

void int8_reports_fp32_beside_it_and_reuses_its_cache(const fs::path& d) {
  const std::string ck = " --checkpoint " + (d / "run/checkpoint.safetensors").string();
  const std::string cache = (d / "calib.json").string();
  const auto r = run_cli(
      "infer --precision int8 --calib-images 200 --calib-data idx:/usr/share/"
      "datasets/fashion-mnist --calib-cache " +
      cache + " --batch 200 --save-logits " + (d / "logits.npy").string() + ck + kData +
      " --run-dir " + (d / "i8").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto s = read_json(d / "i8/summary.json");
  EXPECT_EQ(s["precision"], "int8");
  EXPECT_NEAR(s["top1"].get<double>(), s["fp32_top1"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["top1_delta"].get<double>(),
                   s["top1"].get<double>() - s["fp32_top1"].get<double>());
  EXPECT_EQ(s["calibration"]["images"], 200);
  EXPECT_TRUE(fs::exists(cache));
  EXPECT_EQ(fs::file_size(d / "logits.npy"), 128u + 10000u * 10u * 4u);  // header + [N, 10] f32
  // The cache alone is enough now, and gives the same figures.
  const auto again = run_cli("infer --precision int8 --batch 200 --calib-cache " + cache + ck +
                             kData + " --run-dir " + (d / "i8b").string());
  ASSERT_EQ(again.code, 0) << again.out;
  const auto s2 = read_json(d / "i8b/summary.json");
  EXPECT_EQ(s2["calibration"]["reused"], true);
  EXPECT_EQ(s2["top1"], s["top1"]);
}

void bad_input_is_one_line_and_exit_2(const fs::path& d) {
  const std::string ck = " --checkpoint " + (d / "run/checkpoint.safetensors").string();
  const std::string rd = " --run-dir " + (d / "bad").string();
  expect_user_error("infer --precision int8" + ck + rd, "--calib-data");
  expect_user_error("infer --precision fp64" + ck + rd, "fp64");
  expect_user_error("infer" + ck + rd + " --batch 0", "--batch");
  // A cache made for another model (LeNet-5 with other weights) is refused, naming the hash.
  const std::string other = (d / "other.json").string();
  ASSERT_EQ(run_cli("infer --model lenet5 --in-channels 1 --precision int8 --calib-images 64 "
                    "--calib-data idx:/usr/share/datasets/fashion-mnist --calib-cache " +
                    other + " --seconds 0 --run-dir " + (d / "other").string())
                .code,
            0);
  expect_user_error("infer --precision int8 --calib-cache " + other + ck + rd, "hash");
  // A corrupt checkpoint: one line naming the file.
  const fs::path bad = d / "corrupt.safetensors";
  std::ofstream(bad) << "not a checkpoint";
  expect_user_error("infer --checkpoint " + bad.string() + rd, bad.string());
  EXPECT_FALSE(fs::exists(d / "bad/summary.json"));  // nothing written by the failed runs
  if (const std::string why =
          scaledl::infer::cpu_precision_problem(scaledl::infer::Precision::bf16);
      !why.empty())
    expect_user_error("infer --precision bf16" + ck + rd, "avx512_bf16");
}

TEST(InferCli, OnATrainedCheckpoint) {
  const fs::path d = train_lenet();
  {
    SCOPED_TRACE("the Engine's fp32 top-1 equals scaledl eval's");
    engine_fp32_top1_equals_eval(d);
  }
  {
    SCOPED_TRACE("int8 with fp32 beside it; the calibration cache reused");
    int8_reports_fp32_beside_it_and_reuses_its_cache(d);
  }
  {
    SCOPED_TRACE("bad input");
    bad_input_is_one_line_and_exit_2(d);
  }
}

}  // namespace
