// Training end to end on small synthetic data: summary.json keys, a run resumed at step k logs the
// same losses as an uninterrupted run, and a checkpoint round trip restores every tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "models/models.h"
#include "nn/net.h"
#include "optim/sgd.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("scaledl_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(p);
  return p.string();
}

TrainConfig small_config(const std::string& dir) {
  TrainConfig c;
  c.model = "resnet8";
  c.data = "synthetic:256";
  c.image_size = 16;
  c.batch = 16;
  c.steps = 12;
  c.log_every = 1;
  c.threads = 2;
  c.warmup_epochs = 0.25f;
  c.run_dir = dir;
  c.eval = false;
  return c;
}

std::vector<double> losses(const std::string& dir) {
  std::vector<double> out;
  std::ifstream in(dir + "/steps.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return out;
}

TEST(Train, ResumedRunRepeatsTheUninterruptedLosses) {
  std::string a = temp_dir("full"), b = temp_dir("resumed");
  TrainConfig full = small_config(a);
  nlohmann::json s = run_training(full);
  for (const char* key : {"top1", "top5", "epochs", "steps", "wall_seconds", "images_per_sec",
                          "world_size"})
    EXPECT_TRUE(s.contains(key)) << key;
  EXPECT_EQ(s["steps"], 12);
  EXPECT_EQ(s["world_size"], 1);
  EXPECT_GT(s["images_per_sec"].get<double>(), 0);
  ASSERT_TRUE(fs::exists(a + "/summary.json"));

  TrainConfig first = small_config(b);
  first.stop_after = 7;  // interrupted mid-epoch (16 steps per epoch), checkpointed at step 7
  run_training(first);
  TrainConfig rest = small_config(b);
  rest.resume = "auto";
  nlohmann::json r = run_training(rest);
  EXPECT_EQ(r["resumed_from_step"], 7);

  std::vector<double> la = losses(a), lb = losses(b);
  ASSERT_EQ(la.size(), 12u);
  ASSERT_EQ(lb.size(), 12u);
  for (size_t i = 0; i < la.size(); ++i) EXPECT_DOUBLE_EQ(la[i], lb[i]) << "step " << i + 1;
  EXPECT_NE(la[6], la[7]);  // the losses move: equality above is not of constants
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Train, CheckpointRoundTripRestoresEveryTensor) {
  std::string dir = temp_dir("ckpt");
  fs::create_directories(dir);
  auto net = std::make_unique<Net>(build_graph("resnet8", 3, 16, 10));
  net->init(5);
  Sgd sgd(*net, SgdConfig{});
  for (const auto& m : sgd.state()) Tensor(m.second).fill(0.25f);
  Tensor(net->buffers()[0].value).fill(3.f);
  CheckpointInfo info;
  info.model = "resnet8";
  info.step = 17;
  info.epoch = 2;
  info.rng_state = 0xDEADBEEFCAFEull;
  info.image_size = 16;
  info.in_channels = 3;
  info.classes = 10;
  info.mean = {0.5f, 0.25f, 0.125f};
  info.stddev = {1.f, 2.f, 3.f};
  save_checkpoint(dir + "/c.safetensors", *net, &sgd.state(), info);

  auto other = std::make_unique<Net>(build_graph("resnet8", 3, 16, 10));
  other->init(6);
  Sgd sgd2(*other, SgdConfig{});
  CheckpointInfo got = load_checkpoint(dir + "/c.safetensors", *other, &sgd2.state());
  EXPECT_EQ(got.step, 17);
  EXPECT_EQ(got.epoch, 2);
  EXPECT_EQ(got.rng_state, 0xDEADBEEFCAFEull);
  EXPECT_EQ(got.mean, info.mean);
  EXPECT_EQ(got.stddev, info.stddev);
  EXPECT_EQ(other->flat_params().to_vector(), net->flat_params().to_vector());
  EXPECT_EQ(other->buffers()[0].value.at(0), 3.f);
  EXPECT_EQ(sgd2.state()[3].second.at(0), 0.25f);

  auto wrong = std::make_unique<Net>(build_graph("resnet14", 3, 16, 10));
  wrong->init(1);
  EXPECT_THROW(load_checkpoint(dir + "/c.safetensors", *wrong, nullptr), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace scaledl
