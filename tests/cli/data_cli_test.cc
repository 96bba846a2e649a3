// scaledl data pack / plan / bench / verify and training on records, through the binary: real
// files, real exit codes, the messages a user sees.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "data/jpeg.h"

namespace {

namespace fs = std::filesystem;

using Result = scaledl::testing::CliResult;
using scaledl::testing::run_cli;

Result run(const std::string& args, bool with_stderr = true) { return run_cli(args, with_stderr); }

fs::path temp_dir(const std::string& name) { return scaledl::testing::fresh_temp_dir("data_" + name); }

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

nlohmann::json summary(const fs::path& run_dir) {
  return nlohmann::json::parse(std::ifstream(run_dir / "summary.json"));
}

void flip_byte(const fs::path& f, uint64_t offset) {
  std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  io.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  io.seekp(static_cast<std::streamoff>(offset));
  io.write(&c, 1);
}

TEST(DataCli, PlanGivesEveryRankADisjointShareAndANewOrderEachEpoch) {
  std::set<std::string> all;
  std::vector<std::string> rank0_epoch0;
  for (int rank = 0; rank < 3; ++rank) {
    Result r = run("data plan --data synthetic:100 --world 3 --rank " + std::to_string(rank) +
                       " --epoch 0 --seed 5", false);
    ASSERT_EQ(r.code, 0) << r.out;
    std::vector<std::string> keys = lines(r.out);
    EXPECT_EQ(keys.size(), rank == 0 ? 34u : 33u);
    if (rank == 0) rank0_epoch0 = keys;
    for (const std::string& k : keys) EXPECT_TRUE(all.insert(k).second) << k << " twice";
  }
  EXPECT_EQ(all.size(), 100u);
  Result e1 = run("data plan --data synthetic:100 --world 3 --rank 0 --epoch 1 --seed 5", false);
  EXPECT_NE(lines(e1.out), rank0_epoch0);
  Result again = run("data plan --data synthetic:100 --world 3 --rank 0 --epoch 0 --seed 5", false);
  EXPECT_EQ(lines(again.out), rank0_epoch0);
  Result dropped = run("data plan --data synthetic:100 --world 3 --rank 0 --epoch 0 --seed 5 "
                       "--batch 8", false);
  EXPECT_EQ(lines(dropped.out),
            std::vector<std::string>(rank0_epoch0.begin(), rank0_epoch0.begin() + 32));
  Result bad = run("data plan --data synthetic:100 --world 2 --rank 2");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("--rank"), std::string::npos) << bad.out;
}

TEST(DataCli, TrainingOnPackedRecordsMatchesTheSourceExactly) {
  const fs::path d = temp_dir("pack");
  const std::string rec = (d / "rec").string();
  Result p = run("data pack synthetic:192 " + rec + " --image-size 12 --shard-size 100K");
  ASSERT_EQ(p.code, 0) << p.out;
  ASSERT_TRUE(fs::exists(d / "rec/train/manifest.json"));
  ASSERT_TRUE(fs::exists(d / "rec/test/manifest.json"));
  EXPECT_EQ(run("data verify " + rec + "/train --deep").code, 0);
  const std::string common =
      " --model resnet8 --batch 16 --steps 20 --epochs 1 --lr 0.05 --threads 1 --loader-threads 2";
  Result a = run("train --data synthetic:192 --image-size 12 --run-dir " + (d / "a").string() + common);
  Result b = run("train --data records:" + rec + " --run-dir " + (d / "b").string() + common);
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  const nlohmann::json sa = summary(d / "a"), sb = summary(d / "b");
  EXPECT_EQ(sa["final_loss"], sb["final_loss"]);
  EXPECT_EQ(sa["top1"], sb["top1"]);
  EXPECT_EQ(sa["eval_loss"], sb["eval_loss"]);
  EXPECT_GT(sb["data_pipeline"]["bytes_read"].get<double>(), 20 * 16 * 12 * 12 * 3);
  // A plain split folder serves as --eval-data and as scaledl eval's --data.
  Result c = run("train --data records:" + rec + "/train --eval-data records:" + rec +
                 "/test --run-dir " + (d / "c").string() + common);
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_EQ(summary(d / "c")["top1"], sb["top1"]);
  Result e = run("eval --checkpoint " + (d / "b/checkpoint.safetensors").string() +
                 " --data records:" + rec + "/test --batch 16 --json " + (d / "e.json").string());
  ASSERT_EQ(e.code, 0) << e.out;
  const nlohmann::json ej = nlohmann::json::parse(std::ifstream(d / "e.json"));
  EXPECT_EQ(ej["top1"], sb["top1"]);
  fs::remove_all(d);
}

TEST(DataCli, CorruptRecordNamesShardRecordAndOffsetOrIsSkipped) {
  const fs::path d = temp_dir("corrupt");
  const std::string rec = (d / "rec").string();
  ASSERT_EQ(run("data pack synthetic:64 " + rec + " --image-size 8").code, 0);
  // Record 3 of the first training shard: header 16 bytes, frames of 12 + payload + 4 bytes.
  const fs::path shard = d / "rec/train/train-00000.rec";
  ASSERT_TRUE(fs::exists(shard)) << "shard naming changed?";
  const uint64_t frame = (fs::file_size(shard) - 16) / 64;
  flip_byte(shard, 16 + 3 * frame + 40);
  const std::string args = "train --model resnet8 --batch 16 --steps 4 --threads 1 --data records:" +
                           rec + " --run-dir ";
  Result r = run(args + (d / "r1").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("train-00000.rec"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("record 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("offset " + std::to_string(16 + 3 * frame)), std::string::npos) << r.out;
  Result s = run(args + (d / "r2").string() + " --skip-corrupt 1");
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_EQ(summary(d / "r2")["data_pipeline"]["corrupt_skipped"], 1);
  EXPECT_EQ(run("data verify " + rec + "/train").code, 2);
  // A truncated shard and a missing index.
  fs::resize_file(shard, fs::file_size(shard) - 10);
  Result t = run(args + (d / "r3").string());
  EXPECT_EQ(t.code, 2);
  EXPECT_NE(t.out.find("train-00000.rec"), std::string::npos) << t.out;
  fs::remove(d / "rec/train/train-00000.idx");
  Result m = run(args + (d / "r4").string());
  EXPECT_EQ(m.code, 2);
  EXPECT_NE(m.out.find("train-00000.idx"), std::string::npos) << m.out;
  fs::remove_all(d);
}

// A tiny ImageFolder tree of real JPEGs: 2 classes x 6 images of 96x72.
fs::path jpeg_folder(const fs::path& d) {
  for (int k = 0; k < 2; ++k) {
    fs::create_directories(d / ("class" + std::to_string(k)));
    for (int i = 0; i < 6; ++i) {
      std::vector<uint8_t> px(96 * 72 * 3);
      for (size_t j = 0; j < px.size(); ++j) px[j] = static_cast<uint8_t>((j * (k + 1) + i * 7) % 251);
      const std::vector<uint8_t> jpg = scaledl::encode_jpeg(px.data(), 96, 72, 3, 90);
      std::ofstream(d / ("class" + std::to_string(k)) / (std::to_string(i) + ".jpg"), std::ios::binary)
          .write(reinterpret_cast<const char*>(jpg.data()), static_cast<std::streamsize>(jpg.size()));
    }
  }
  return d;
}

TEST(DataCli, BenchPrintsJsonForFoldersAndRecords) {
  const fs::path d = temp_dir("bench");
  const fs::path imgs = jpeg_folder(d / "imgs");
  ASSERT_EQ(run("data pack folder:" + imgs.string() + " " + (d / "rec").string()).code, 0);
  for (const std::string& src : {"folder:" + imgs.string(), "records:" + (d / "rec").string()}) {
    Result r = run("data bench --data " + src + " --threads 2 --images 24 --batch 4 --image-size 32 --json", false);
    ASSERT_EQ(r.code, 0) << r.out;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["images"], 24);
    EXPECT_GT(j["images_per_sec"].get<double>(), 0);
    EXPECT_GT(j["mb_per_sec"].get<double>(), 0);
    EXPECT_GE(j["cpu_percent"].get<double>(), 0);
    EXPECT_EQ(j["threads"], 2);
  }
  // An undecodable JPEG stops the bench naming the file.
  std::ofstream(imgs / "class1" / "bad.jpg") << "not a jpeg at all";
  Result bad = run("data bench --data folder:" + imgs.string() + " --images 48 --batch 4 --image-size 32");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("bad.jpg"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("not a decodable JPEG"), std::string::npos) << bad.out;
  // Packed, the same bytes pass every CRC; the decode error names shard, record and offset.
  ASSERT_EQ(run("data pack folder:" + imgs.string() + " " + (d / "rec2").string()).code, 0);
  Result packed = run("data bench --data records:" + (d / "rec2").string() +
                      " --images 48 --batch 4 --image-size 32");
  EXPECT_EQ(packed.code, 2) << packed.out;
  EXPECT_NE(packed.out.find("train-00000.rec: record 12 at byte offset "), std::string::npos)
      << packed.out;
  EXPECT_NE(packed.out.find("(class1/bad.jpg)"), std::string::npos) << packed.out;
  fs::remove_all(d);
}

}  // namespace
