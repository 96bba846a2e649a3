// The scaledl binary on bad input: one line naming the problem, exit code 2, nothing lost.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "core/device_memory.h"

namespace {

namespace fs = std::filesystem;

using Result = scaledl::testing::CliResult;
using scaledl::testing::expect_user_error;
using scaledl::testing::run_cli;

Result run(const std::string& args, bool with_stderr = true) { return run_cli(args, with_stderr); }

fs::path temp_dir(const std::string& name) { return scaledl::testing::fresh_temp_dir("cli_" + name); }

TEST(Cli, BadInputGivesOneLineAndExitCode2) {
  fs::path d = temp_dir("bad");
  std::string rd = " --run-dir " + (d / "run").string();
  expect_user_error("train --data idx:/nonexistent/fmnist" + rd, "/nonexistent/fmnist");
  expect_user_error("train --model resnet9000" + rd, "resnet9000");
  expect_user_error("train --batch 0" + rd, "--batch");
  expect_user_error("train --batch abc" + rd, "--batch");
  expect_user_error("train --lr -1" + rd, "--lr");
  expect_user_error("train --device gpu0" + rd, "gpu0");
  expect_user_error("train --precision tf32" + rd, "tf32 needs --device cuda");
  expect_user_error("train --precision fp64 --device cuda" + rd, "--precision");
  // Without a GPU (or without the CUDA backend) the reason is named, before any data is read.
  if (scaledl::cuda_device_count() == 0) {
    expect_user_error("train --device cuda --precision bf16" + rd, scaledl::cuda_unavailable_reason());
    expect_user_error("comm bench --backend nccl", "CUDA");
  }
  expect_user_error("train --no-such-flag" + rd, "--no-such-flag");
  std::ofstream(d / "file") << "x";
  expect_user_error("train --data synthetic:64 --run-dir " + (d / "file" / "run").string(),
                    (d / "file").string());
  std::ofstream(d / "cfg.json") << "{\"batch\": 8, \"bogus_key\": 1}";
  expect_user_error("train --config " + (d / "cfg.json").string() + rd, "bogus_key");
  fs::remove_all(d);
}

TEST(Cli, ConfigFileSetsFlagsAndCommandLineFlagsOverrideIt) {
  fs::path d = temp_dir("config");
  std::ofstream(d / "run.json") << R"({"model": "resnet8", "data": "synthetic:64", "image_size": 16,
    "batch": 8, "steps": 2, "flip": false, "eval": false, "lr": 0.05})";
  std::string rd = (d / "run").string();
  Result r = run("train --config " + (d / "run.json").string() + " --batch 16 --run-dir " + rd);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(rd + "/summary.json");
  nlohmann::json s = nlohmann::json::parse(in);
  EXPECT_EQ(s["config"]["model"], "resnet8");  // from the file
  EXPECT_EQ(s["config"]["steps"], 2);
  EXPECT_EQ(s["config"]["flip"], false);
  EXPECT_FLOAT_EQ(s["config"]["lr"].get<float>(), 0.05f);
  EXPECT_EQ(s["config"]["batch"], 16);  // the flag wins over the file's 8
  EXPECT_TRUE(s["top1"].is_null());     // --no-eval via "eval": false
  fs::remove_all(d);
}

TEST(Cli, BadCheckpointsAreNamed) {
  fs::path d = temp_dir("ckpt");
  std::ofstream(d / "trunc.safetensors") << "\x10\x00\x00\x00";
  expect_user_error("eval --checkpoint " + (d / "trunc.safetensors").string(), "trunc.safetensors");
  std::string torch_file = std::string(SCALEDL_SOURCE_DIR) + "/tests/fixtures/torch_small.safetensors";
  expect_user_error("eval --checkpoint " + torch_file, "not a scaledl checkpoint");
  expect_user_error("eval --checkpoint " + (d / "missing.safetensors").string(), "missing");
  fs::remove_all(d);
}

TEST(Cli, TrainsWritesSummaryAndRefusesToOverwriteARun) {
  fs::path d = temp_dir("train");
  std::string rd = (d / "run").string();
  Result r = run("train --model resnet8 --data synthetic:128 --image-size 16 --batch 16 "
                 "--steps 4 --threads 2 --run-dir " + rd);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("summary: " + rd + "/summary.json"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(rd + "/checkpoint.safetensors"));
  auto before = fs::file_size(rd + "/checkpoint.safetensors");
  auto mtime = fs::last_write_time(rd + "/checkpoint.safetensors");
  expect_user_error("train --model resnet8 --data synthetic:128 --image-size 16 --batch 16 "
                    "--steps 4 --run-dir " + rd, "--resume");
  EXPECT_EQ(fs::file_size(rd + "/checkpoint.safetensors"), before);
  EXPECT_EQ(fs::last_write_time(rd + "/checkpoint.safetensors"), mtime);
  Result e = run("eval --checkpoint " + rd + "/checkpoint.safetensors --data synthetic:128");
  EXPECT_EQ(e.code, 0) << e.out;
  EXPECT_NE(e.out.find("top-1"), std::string::npos) << e.out;
  Result m = run("models");
  EXPECT_EQ(m.code, 0);
  EXPECT_NE(m.out.find("25557032"), std::string::npos) << m.out;
  fs::remove_all(d);
}

}  // namespace
