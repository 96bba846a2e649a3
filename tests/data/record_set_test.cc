// Record sets: pack a small in-test SampleSource into several shards on 3 threads, read every
// sample back through open_records, check the manifest, and the failure paths of pack and open.
#include "data/record_set.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/corrupt.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

// n samples of 3 classes; sample i is a raw_u8 4 x (2 + i % 5) x 3 grid (or jpeg-like bytes when
// i % 4 == 0), its label is i % 3 (plus a second label). read() of `fail_at` throws DataCorrupt.
class TinySource : public SampleSource {
 public:
  explicit TinySource(int64_t n, int64_t fail_at = -1) : n_(n), fail_at_(fail_at) {}
  int64_t size() const override { return n_; }
  int classes() const override { return 3; }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string key(int64_t i) const override { return "tiny/" + std::to_string(i); }
  int32_t label(int64_t i) const override { return static_cast<int32_t>(i % 3); }
  uint64_t stored_bytes(int64_t i) const override { return make(i).image.size(); }
  uint64_t read(int64_t i, Record& out, std::vector<uint8_t>&) const override {
    if (i == fail_at_) throw DataCorrupt("tiny: sample " + std::to_string(i) + " is bad");
    out = make(i);
    return out.image.size();
  }
  std::string describe() const override { return "tiny:" + std::to_string(n_); }

  Record make(int64_t i) const {
    Record r;
    r.key = key(i);
    r.labels = {label(i), static_cast<int32_t>(100 + i)};
    if (i % 4 == 0) {
      r.encoding = ImageEncoding::jpeg;
      r.image.resize(static_cast<size_t>(30 + i));
    } else {
      r.encoding = ImageEncoding::raw_u8;
      r.height = 4, r.width = static_cast<int32_t>(2 + i % 5), r.channels = 3;
      r.image.resize(static_cast<size_t>(r.height * r.width * r.channels));
    }
    for (size_t k = 0; k < r.image.size(); ++k)
      r.image[k] = static_cast<uint8_t>(mix64(i * 131 + k));
    return r;
  }

 private:
  int64_t n_, fail_at_;
  std::vector<std::string> names_{"cat", "dog", "emu"};
};

class RecordSet : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::test_temp_dir("recset");
    dir_ = (root_ / "packed").string();
    set_log_level(LogLevel::warn);  // no progress lines in test output
  }
  void TearDown() override {
    set_log_level(LogLevel::info);
    fs::remove_all(root_);
  }
  static PackOptions small_shards() {
    PackOptions o;
    o.shard_bytes = 400;  // about 8 samples a shard
    o.threads = 3;
    o.prefix = "tiny";
    return o;
  }
  fs::path root_;
  std::string dir_;
};

TEST_F(RecordSet, PackThenOpenReadsEverySampleBack) {
  TinySource src(61);
  nlohmann::json m = pack_records(src, dir_, small_shards());
  // The same cut rule, done by hand: a shard closes once its stored bytes reach 400.
  std::vector<int64_t> want_records;
  uint64_t sum = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < src.size(); ++i) {
    sum += src.stored_bytes(i), ++count;
    if (sum >= 400) want_records.push_back(count), sum = 0, count = 0;
  }
  if (count) want_records.push_back(count);
  ASSERT_GE(want_records.size(), 4u);
  ASSERT_EQ(m["shards"].size(), want_records.size());
  for (size_t s = 0; s < want_records.size(); ++s) {
    EXPECT_EQ(m["shards"][s]["records"].get<int64_t>(), want_records[s]);
    char name[32];
    std::snprintf(name, sizeof name, "tiny-%05zu", s);
    EXPECT_EQ(m["shards"][s]["file"], std::string(name) + ".rec");
    EXPECT_EQ(m["shards"][s]["index"], std::string(name) + ".idx");
    EXPECT_EQ(m["shards"][s]["bytes"].get<uint64_t>(),
              fs::file_size(fs::path(dir_) / (std::string(name) + ".rec")));
    EXPECT_EQ(m["shards"][s]["crc32c"].get<std::string>().size(), 8u);
  }
  EXPECT_EQ(m["format"], "scaledl-records");
  EXPECT_EQ(m["version"], 1);
  EXPECT_EQ(m["samples"], 61);
  EXPECT_EQ(m["source"], "tiny:61");
  EXPECT_EQ(m["classes"], nlohmann::json({"cat", "dog", "emu"}));
  EXPECT_EQ(m["class_counts"], nlohmann::json({21, 20, 20}));  // 0..60 mod 3
  EXPECT_EQ(read_manifest(dir_), m);

  SourcePtr rs = open_records(dir_);
  ASSERT_EQ(rs->size(), 61);
  EXPECT_EQ(rs->classes(), 3);
  EXPECT_EQ(rs->class_names(), (std::vector<std::string>{"cat", "dog", "emu"}));
  EXPECT_EQ(rs->describe(), "records:" + dir_ + " (" + std::to_string(want_records.size()) +
                                " shards, 61 samples)");
  Record got;
  std::vector<uint8_t> scratch;
  uint64_t stored = 0;
  for (int64_t i = 0; i < 61; ++i) {
    const Record want = src.make(i);
    EXPECT_EQ(rs->key(i), want.key);
    EXPECT_EQ(rs->label(i), want.labels[0]);
    EXPECT_EQ(rs->read(i, got, scratch), rs->stored_bytes(i));
    stored += rs->stored_bytes(i);
    EXPECT_EQ(got.key, want.key);
    EXPECT_EQ(got.labels, want.labels);
    EXPECT_EQ(got.encoding, want.encoding);
    EXPECT_EQ(got.width, want.width);
    EXPECT_EQ(got.image, want.image);
  }
  // Every byte of every shard but its 16-byte header belongs to one sample's frame.
  EXPECT_EQ(stored + 16 * want_records.size(), m["bytes"].get<uint64_t>());
  EXPECT_THROW(rs->read(61, got, scratch), Error);
  EXPECT_EQ(verify_records(dir_, true), static_cast<int64_t>(want_records.size()));
}

TEST_F(RecordSet, PackIntoANonEmptyFolderFails) {
  fs::create_directories(dir_);
  std::ofstream(fs::path(dir_) / "keep.txt") << "mine";
  TinySource src(5);
  try {
    pack_records(src, dir_, small_shards());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + " is not empty; choose an empty folder"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "manifest.json"));
}

TEST_F(RecordSet, AFailingSampleStopsThePackWithoutAManifest) {
  TinySource src(61, 37);
  EXPECT_THROW(pack_records(src, dir_, small_shards()), DataCorrupt);
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "manifest.json"));
  for (const auto& e : fs::directory_iterator(dir_))  // no temporaries left behind
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(RecordSet, OpenWithoutManifestOrWithADamagedOne) {
  fs::create_directories(dir_);
  try {
    open_records(dir_);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + " has no manifest.json; is it a folder made by "
                                                "`scaledl data pack`?"),
              std::string::npos)
        << e.what();
  }
  std::ofstream(fs::path(dir_) / "manifest.json")
      << "{\"format\": \"scaledl-records\", \"version\": 9}";
  try {
    open_records(dir_);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("written by a newer scaledl"), std::string::npos)
        << e.what();
  }
  std::ofstream(fs::path(dir_) / "manifest.json") << "{not json";
  EXPECT_THROW(open_records(dir_), Error);
}

TEST_F(RecordSet, VerifyNamesTheDamagedShardAndOpenChecksCounts) {
  TinySource src(40);
  nlohmann::json m = pack_records(src, dir_, small_shards());
  const std::string bad = (fs::path(dir_) / m["shards"][1]["file"].get<std::string>()).string();
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  try {
    verify_records(dir_);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad + ": "), std::string::npos) << e.what();
  }
  m["shards"][0]["records"] = m["shards"][0]["records"].get<int64_t>() + 1;
  std::ofstream(fs::path(dir_) / "manifest.json", std::ios::trunc) << m.dump();
  EXPECT_THROW(open_records(dir_), Error);
}

}  // namespace
}  // namespace scaledl
