// npy:FILE through the binary: training and evaluation on the model inputs of a synthetic set,
// dumped to .npy, give exactly what the synthetic set gives; plan and bench read it; pack and
// a missing file are one-line errors with exit code 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "data/loader.h"
#include "data/pipeline.h"
#include "data/source.h"
#include "io/npy.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::expect_user_error;
using testing::run_cli;

nlohmann::json read_json(const fs::path& p) {
  return nlohmann::json::parse(std::ifstream(p));
}

// Writes `src` as the model sees it (NCHW f32, normalized by `po`) to FILE and FILE.labels.npy;
// returns the statistics the transform used.
void dump(const SourcePtr& src, PipelineOptions po, const std::string& file,
          std::vector<float>* mean = nullptr, std::vector<float>* stddev = nullptr) {
  po.layout = Layout::nchw;
  Transformer tf = make_transform(*src, false, po);
  if (mean) *mean = tf.spec().mean, *stddev = tf.spec().stddev;
  const int64_t C = tf.channels(), H = tf.out_height(), W = tf.out_width();
  LoaderOptions lo;
  lo.batch = 16;
  lo.threads = 1;
  lo.shuffle.mode = ShuffleMode::none;
  lo.last = LastBatch::pad;
  Loader loader(src, std::move(tf), lo);
  std::vector<float> x;
  std::vector<int32_t> labels;
  loader.seek(0, loader.batches_per_epoch());
  for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const Batch& batch = loader.next();
    x.insert(x.end(), batch.x.data<float>(), batch.x.data<float>() + batch.real * C * H * W);
    labels.insert(labels.end(), batch.labels.data<int32_t>(),
                  batch.labels.data<int32_t>() + batch.real);
  }
  const int64_t n = src->size();
  write_npy_f32(file, {n, C, H, W}, x.data());
  write_npy_i32(file.substr(0, file.size() - 4) + ".labels.npy", {n}, labels.data());
}

TEST(NpyCli, TrainAndEvalOnDumpedInputsMatchTheSynthetic) {
  const fs::path d = testing::fresh_temp_dir("npycli");
  // The synthetic set's splits as training (seed 1, as train --seed 1 draws them) and scaledl
  // eval (which draws with seed 1) see them: the test split normalized with the training
  // split's statistics.
  const DataSplits syn = open_data(parse_data_spec("synthetic:160"), 8, 1);
  PipelineOptions po;
  std::vector<float> mean, sd;
  const std::string train = (d / "train.npy").string(), test = (d / "test.npy").string();
  dump(syn.train, po, train, &mean, &sd);
  po.mean = mean;
  po.stddev = sd;
  dump(syn.test, po, test);
  // Both splits hold every class (an npy set has as many classes as its largest label + 1, and
  // training checks that the two sets agree).
  ASSERT_EQ(NpyFile(test.substr(0, test.size() - 4) + ".labels.npy").to_i64().size(), 40u);
  for (const std::string& f : {train, test}) {
    const std::vector<int64_t> l = NpyFile(f.substr(0, f.size() - 4) + ".labels.npy").to_i64();
    ASSERT_EQ(*std::max_element(l.begin(), l.end()), 9) << f;
  }

  const std::string common =
      " --model resnet8 --batch 16 --steps 6 --lr 0.05 --threads 1 --loader-threads 2 --seed 1 "
      "--no-flip";
  const CliResult a =
      run_cli("train --data synthetic:160 --image-size 8 --run-dir " + (d / "a").string() + common);
  const CliResult b = run_cli("train --data npy:" + train + " --eval-data npy:" + test +
                              " --run-dir " + (d / "b").string() + common);
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  const nlohmann::json sa = read_json(d / "a/summary.json"), sb = read_json(d / "b/summary.json");
  EXPECT_EQ(sa["final_loss"], sb["final_loss"]);
  EXPECT_EQ(sa["top1"], sb["top1"]);
  EXPECT_EQ(sa["eval_loss"], sb["eval_loss"]);
  EXPECT_TRUE(sb["top1"].is_number()) << sb.dump();

  // One checkpoint evaluated on the synthetic test split and on its dump.
  const std::string ck = " --checkpoint " + (d / "a/checkpoint.safetensors").string();
  const CliResult ea =
      run_cli("eval" + ck + " --data synthetic:160 --batch 7 --json " + (d / "ea.json").string());
  const CliResult eb = run_cli("eval" + ck + " --data npy:" + test + " --batch 7 --json " +
                               (d / "eb.json").string());
  ASSERT_EQ(ea.code, 0) << ea.out;
  ASSERT_EQ(eb.code, 0) << eb.out;
  const nlohmann::json ja = read_json(d / "ea.json"), jb = read_json(d / "eb.json");
  EXPECT_EQ(ja["samples"], 40);
  for (const char* k : {"samples", "top1", "top5", "loss"}) EXPECT_EQ(ja[k], jb[k]) << k;
  expect_user_error("eval" + ck + " --data npy:" + (d / "missing.npy").string(),
                    "missing.npy: cannot open");

  // Training flips by default: asked to, an npy source says which flag to change.
  const std::string rd = " --no-eval --run-dir " + (d / "c").string();
  expect_user_error("train --data npy:" + train + rd, "--flip does not apply; pass --no-flip");
  expect_user_error("train --data npy:" + train + " --image-size 16 --no-flip" + rd,
                    "--image-size");
  fs::remove_all(d);
}

TEST(NpyCli, PlanBenchPackAndMissingFiles) {
  const fs::path d = testing::fresh_temp_dir("npycli2");
  const std::string f = (d / "val.npy").string();
  const std::vector<float> x(5 * 3 * 6 * 6, 0.5f);
  write_npy_f32(f, {5, 3, 6, 6}, x.data());  // unlabeled: fine for plans and benchmarks
  const CliResult p = run_cli("data plan --data npy:" + f + " --shuffle none", false);
  ASSERT_EQ(p.code, 0) << p.out;
  EXPECT_EQ(p.out, "val/000000\nval/000001\nval/000002\nval/000003\nval/000004\n");
  const CliResult bench = run_cli(
      "data bench --data npy:" + f + " --transform eval --images 4 --batch 2 --threads 1 --json",
      false);
  ASSERT_EQ(bench.code, 0) << bench.out;
  const nlohmann::json j = nlohmann::json::parse(bench.out);
  EXPECT_EQ(j["images"], 4);
  EXPECT_EQ(j["image_size"], 6);
  expect_user_error("data bench --data npy:" + f + " --images 4 --batch 2", "--transform eval");
  expect_user_error("data pack npy:" + f + " " + (d / "rec").string(), "is not packed");
  expect_user_error("train --data npy:" + f + " --no-flip --run-dir " + (d / "r").string(),
                    "has no labels");
  fs::remove_all(d);
}

}  // namespace
}  // namespace scaledl
