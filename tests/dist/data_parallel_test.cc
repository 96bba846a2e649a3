// Data-parallel training through mpirun: 1 rank with global batch B, 2 ranks with B/2 and 4
// ranks with B/4 reach the same parameters after k steps (LeNet-5: no batch norm, no dropout),
// and the ranks of a job hold bit-identical parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "io/safetensors.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

#ifdef SCALEDL_MPIEXEC
testing::CliResult mpirun(int ranks, const std::string& args) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);  // CI containers run as root
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  return testing::run_command(std::string(SCALEDL_MPIEXEC) + " -n " + std::to_string(ranks) +
                              " --oversubscribe --mca btl self,vader,tcp " + SCALEDL_BINARY +
                              " " + args + " 2>&1");
}
#endif

TEST(DataParallel, OneTwoAndFourRanksReachTheSameParameters) {
#ifndef SCALEDL_MPIEXEC
  GTEST_SKIP() << "built without MPI (SCALEDL_MPI=OFF)";
#else
  const fs::path d = testing::fresh_temp_dir("dp_equiv");
  const int64_t global = 48, steps = 12;
  const std::string common =
      " --model lenet5 --data idx:/usr/share/datasets/fashion-mnist --steps " +
      std::to_string(steps) + " --no-eval --threads 1 --loader-threads 1 --lr 0.05 --log-every 4";
  std::vector<SafetensorsFile> ck;
  for (int ranks : {1, 2, 4}) {
    // (std::string("r") + ...: GCC 12 warns a false -Wrestrict on "literal" + std::string.)
    const fs::path run = d / (std::string("r") + std::to_string(ranks));
    const testing::CliResult r = mpirun(
        ranks, "train --batch " + std::to_string(global / ranks) + " --run-dir " + run.string() + common);
    ASSERT_EQ(r.code, 0) << r.out;
    const nlohmann::json s = nlohmann::json::parse(std::ifstream(run / "summary.json"));
    EXPECT_EQ(s["world_size"], ranks);
    EXPECT_EQ(s["global_batch"], global);
    EXPECT_EQ(s["params_identical_across_ranks"], true);
    ck.push_back(load_safetensors((run / "checkpoint.safetensors").string()));
  }
  for (size_t k = 1; k < ck.size(); ++k) {
    ASSERT_EQ(ck[k].tensors.size(), ck[0].tensors.size());
    for (size_t t = 0; t < ck[0].tensors.size(); ++t) {
      const auto& [name, a] = ck[0].tensors[t];
      const Tensor* b = ck[k].find(name);
      ASSERT_NE(b, nullptr) << name;
      double scale = 0, diff = 0;
      for (int64_t i = 0; i < a.numel(); ++i) {
        scale = std::max(scale, std::fabs(static_cast<double>(a.data<float>()[i])));
        diff = std::max(diff, std::fabs(static_cast<double>(a.data<float>()[i]) - b->data<float>()[i]));
      }
      EXPECT_LE(diff, 1e-5 * scale) << name << " with " << (k == 1 ? 2 : 4) << " ranks";
    }
  }
  fs::remove_all(d);
#endif
}

TEST(DataParallel, BatchNormStatisticsAreIdenticalOnEveryRank) {
#ifndef SCALEDL_MPIEXEC
  GTEST_SKIP() << "built without MPI (SCALEDL_MPI=OFF)";
#else
  // Each rank's running statistics come from its own share; they are averaged before the
  // evaluation and the checkpoint, so the ranks end with identical parameters and buffers.
  const fs::path d = testing::fresh_temp_dir("dp_bn");
  const testing::CliResult r =
      mpirun(2, "train --model resnet8 --data synthetic:96 --image-size 16 --batch 8 --steps 6 "
                "--threads 1 --loader-threads 1 --run-dir " + (d / "run").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json s = nlohmann::json::parse(std::ifstream(d / "run" / "summary.json"));
  EXPECT_EQ(s["params_identical_across_ranks"], true);
  fs::remove_all(d);
#endif
}

TEST(DataParallel, UnevenSharesNeverDeadlock) {
#ifndef SCALEDL_MPIEXEC
  GTEST_SKIP() << "built without MPI (SCALEDL_MPI=OFF)";
#else
  // 101 training samples over 3 ranks (34, 34, 33) and 25 test samples (9, 8, 8): every rank
  // must run the same steps and evaluation batches, and the job must finish.
  const fs::path d = testing::fresh_temp_dir("dp_uneven");
  const testing::CliResult r =
      mpirun(3, "train --model lenet5 --data synthetic:101 --image-size 28 --batch 8 --epochs 2 "
                "--threads 1 --loader-threads 1 --comm-timeout 20 --run-dir " + (d / "run").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json s = nlohmann::json::parse(std::ifstream(d / "run" / "summary.json"));
  EXPECT_EQ(s["steps"], 8);  // floor(floor(101 / 3) / 8) = 4 steps per epoch
  EXPECT_EQ(s["eval_samples"], 25) << "every test sample counted once across ranks";
  fs::remove_all(d);
#endif
}

}  // namespace
}  // namespace scaledl
