// Record shards: CRC32C vectors, round trips (in order, random order, 4 threads), and every kind
// of damage (payload, length, truncation, index, header) giving the right error type and text.
#include "data/record.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/corrupt.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

// Record i: jpeg-like bytes or a raw_u8 grid, 1-3 labels, a key "train/00000i".
Record make_record(int i) {
  Record r;
  char key[32];
  std::snprintf(key, sizeof key, "train/%06d", i);
  r.key = key;
  for (int k = 0; k <= i % 3; ++k) r.labels.push_back((i + k) % 7);
  if (i % 2 == 0) {
    r.encoding = ImageEncoding::jpeg;
    r.image = {0xFF, 0xD8, 0xFF};
    for (int k = 0; k < 40 + 13 * i; ++k)
      r.image.push_back(static_cast<uint8_t>(mix64(i * 1000 + k)));
  } else {
    r.encoding = ImageEncoding::raw_u8;
    r.height = 3 + i % 4;
    r.width = 5;
    r.channels = i % 3 == 0 ? 1 : 3;
    for (int k = 0; k < r.height * r.width * r.channels; ++k)
      r.image.push_back(static_cast<uint8_t>(mix64(i * 7 + k)));
  }
  return r;
}

void expect_equal(const Record& a, const Record& b) {
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.encoding, b.encoding);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.channels, b.channels);
  EXPECT_EQ(a.image, b.image);
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// The message of the exception `fn` throws, which must be exactly of type E (DataCorrupt, or an
// Error that is not a DataCorrupt).
template <typename E, typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const DataCorrupt& e) {
    EXPECT_TRUE((std::is_same_v<E, DataCorrupt>)) << "unexpected DataCorrupt: " << e.what();
    return e.what();
  } catch (const Error& e) {
    EXPECT_TRUE((std::is_same_v<E, Error>)) << "Error where DataCorrupt was expected: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return "";
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF);
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  std::vector<uint8_t> big(100000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(mix64(i));
  const uint32_t whole = crc32c(big.data(), big.size());
  uint32_t chained = crc32c(big.data(), 777);
  chained = crc32c(big.data() + 777, big.size() - 777, chained);
  EXPECT_EQ(chained, whole);
  EXPECT_EQ(crc32c("56789", 5, crc32c("1234", 4)), 0xE3069283u);
}

class RecordShard : public ::testing::Test {
 protected:
  static constexpr int kN = 12;
  void SetUp() override {
    dir_ = testing::test_temp_dir("rec");
    shard_ = (dir_ / "part-00000.rec").string();
    index_ = (dir_ / "part-00000.idx").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  ShardInfo write_shard(int n = kN) {
    ShardWriter w(shard_);
    for (int i = 0; i < n; ++i) w.add(make_record(i));
    EXPECT_EQ(w.records(), n);
    return w.finish();
  }
  // Flips one byte of `path` at `at`.
  static void flip(const std::string& path, uint64_t at) {
    std::vector<uint8_t> b = slurp(path);
    ASSERT_LT(at, b.size());
    b[at] ^= 0x40;
    spit(path, b);
  }

  fs::path dir_;
  std::string shard_, index_;
};

TEST_F(RecordShard, RoundTripInOrderAndRandomOrder) {
  ShardInfo info = write_shard();
  EXPECT_EQ(info.file, "part-00000.rec");
  EXPECT_EQ(info.index_file, "part-00000.idx");
  EXPECT_EQ(info.records, kN);
  std::vector<uint8_t> bytes = slurp(shard_);
  EXPECT_EQ(info.bytes, bytes.size());
  EXPECT_EQ(info.crc32c, crc32c(bytes.data(), bytes.size()));
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 6), "SDLREC");

  ShardReader r(shard_);
  ASSERT_EQ(r.size(), kN);
  EXPECT_EQ(r.file_bytes(), info.bytes);
  EXPECT_EQ(r.offset(0), 16u);
  Record got;
  std::vector<uint8_t> scratch;
  for (int i = 0; i < kN; ++i) {
    const Record want = make_record(i);
    EXPECT_EQ(r.key(i), want.key);
    EXPECT_EQ(r.label(i), want.labels[0]);
    const uint64_t end = i + 1 < kN ? r.offset(i + 1) : r.file_bytes();
    EXPECT_EQ(r.read(i, got, scratch), end - r.offset(i));
    expect_equal(got, want);
  }
  Rng rng(7);
  for (int t = 0; t < 50; ++t) {
    const int i = static_cast<int>(rng.below(kN));
    r.read(i, got, scratch);
    expect_equal(got, make_record(i));
  }
}

TEST_F(RecordShard, FourThreadsReadConcurrently) {
  write_shard();
  ShardReader r(shard_);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Record got;
      std::vector<uint8_t> scratch;
      Rng rng(100 + t);
      for (int k = 0; k < 400; ++k) {
        const int i = static_cast<int>(rng.below(kN));
        r.read(i, got, scratch);
        const Record want = make_record(i);
        if (got.key != want.key || got.image != want.image || got.labels != want.labels)
          ++mismatches[t];
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST_F(RecordShard, InMemoryScanMatchesTheIndex) {
  write_shard();
  ShardReader r(shard_);
  std::vector<uint8_t> bytes = slurp(shard_);
  std::vector<uint64_t> offsets;
  scan_shard(bytes.data(), bytes.size(), shard_, offsets);
  ASSERT_EQ(offsets.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(offsets[i], r.offset(i));
  int seen = 0;
  EXPECT_EQ(for_each_record(bytes.data(), bytes.size(), shard_,
                            [&](int64_t i, uint64_t off, const Record& rec) {
                              EXPECT_EQ(off, r.offset(i));
                              expect_equal(rec, make_record(static_cast<int>(i)));
                              ++seen;
                            }),
            kN);
  EXPECT_EQ(seen, kN);
}

TEST_F(RecordShard, FlippedPayloadByteNamesShardRecordAndOffset) {
  write_shard();
  const uint64_t off = ShardReader(shard_).offset(3);
  flip(shard_, off + 12 + 20);
  ShardReader r(shard_);
  Record got;
  std::vector<uint8_t> scratch;
  std::string msg = error_of<DataCorrupt>([&] { r.read(3, got, scratch); });
  EXPECT_NE(msg.find(shard_ + ": record 3 at byte offset " + std::to_string(off)),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("payload fails its CRC32C"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--skip-corrupt N"), std::string::npos) << msg;
  r.read(2, got, scratch);  // the neighbours are intact
  expect_equal(got, make_record(2));
  r.read(4, got, scratch);
  expect_equal(got, make_record(4));
}

TEST_F(RecordShard, FlippedLengthByte) {
  write_shard();
  const uint64_t off = ShardReader(shard_).offset(5);
  flip(shard_, off + 1);
  ShardReader r(shard_);
  Record got;
  std::vector<uint8_t> scratch;
  std::string msg = error_of<DataCorrupt>([&] { r.read(5, got, scratch); });
  EXPECT_NE(msg.find("record 5 at byte offset " + std::to_string(off) +
                     ": length field fails its CRC32C"),
            std::string::npos)
      << msg;
}

TEST_F(RecordShard, TruncatedLastRecord) {
  ShardInfo info = write_shard();
  const uint64_t off = ShardReader(shard_).offset(kN - 1);
  std::vector<uint8_t> b = slurp(shard_);
  b.resize(off + 30);
  spit(shard_, b);
  ShardReader r(shard_);  // the index still lies inside the shard: open succeeds
  Record got;
  std::vector<uint8_t> scratch;
  r.read(kN - 2, got, scratch);
  expect_equal(got, make_record(kN - 2));
  std::string msg = error_of<DataCorrupt>([&] { r.read(kN - 1, got, scratch); });
  EXPECT_NE(msg.find(shard_ + ": record 11 at byte offset " + std::to_string(off) +
                     ": truncated (frame needs " + std::to_string(info.bytes - off) +
                     " bytes, file ends at " + std::to_string(off + 30) + ")"),
            std::string::npos)
      << msg;
  // The in-memory parser says the same.
  std::vector<uint64_t> offsets;
  std::string scan =
      error_of<DataCorrupt>([&] { scan_shard(b.data(), b.size(), shard_, offsets); });
  EXPECT_NE(scan.find("record 11 at byte offset " + std::to_string(off) + ": truncated"),
            std::string::npos)
      << scan;
}

TEST_F(RecordShard, ShardCutBeforeARecordIsAnIndexError) {
  write_shard();
  const uint64_t off = ShardReader(shard_).offset(kN - 1);
  std::vector<uint8_t> b = slurp(shard_);
  b.resize(off);
  spit(shard_, b);
  std::string msg = error_of<Error>([&] { ShardReader r(shard_); });
  EXPECT_NE(
      msg.find(index_ + ": record 11 at byte offset " + std::to_string(off) + " lies past the end"),
      std::string::npos)
      << msg;
}

TEST_F(RecordShard, MissingIndexIsAnErrorNamingIt) {
  write_shard();
  fs::remove(index_);
  std::string msg = error_of<Error>([&] { ShardReader r(shard_); });
  EXPECT_NE(msg.find(index_ + " is missing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("re-pack the data set with `scaledl data pack`"), std::string::npos) << msg;
}

TEST_F(RecordShard, IndexWithAFlippedByte) {
  write_shard();
  flip(index_, 40);
  std::string msg = error_of<Error>([&] { ShardReader r(shard_); });
  EXPECT_NE(msg.find(index_ + ": CRC32C mismatch"), std::string::npos) << msg;
}

TEST_F(RecordShard, NewerVersionIsRefused) {
  write_shard();
  std::vector<uint8_t> b = slurp(shard_);
  b[8] = 2;
  spit(shard_, b);
  std::string msg = error_of<Error>([&] { ShardReader r(shard_); });
  EXPECT_EQ(msg, "[data] " + shard_ +
                     ": written by a newer scaledl (record format version 2; "
                     "this build reads up to 1); upgrade scaledl");
}

TEST_F(RecordShard, WrongMagic) {
  write_shard();
  flip(shard_, 0);
  std::string msg = error_of<Error>([&] { ShardReader r(shard_); });
  EXPECT_NE(msg.find(shard_ + ": not a scaledl record shard"), std::string::npos) << msg;
}

TEST_F(RecordShard, UnfinishedWriterLeavesNoFiles) {
  {
    ShardWriter w(shard_);
    for (int i = 0; i < 3; ++i) w.add(make_record(i));
    EXPECT_GT(w.bytes(), 16u);
  }
  EXPECT_TRUE(fs::is_empty(dir_));
  EXPECT_THROW(ShardWriter((dir_ / "x.bin").string()), Error);
}

TEST(RecordPayload, RoundTripAndHostileFields) {
  Record r = make_record(3), got;
  std::vector<uint8_t> p;
  encode_payload(r, p);
  EXPECT_EQ(p.size(), 16 + 4 * r.labels.size() + r.key.size() + 8 + r.image.size());
  decode_payload(p.data(), p.size(), got, "here");
  expect_equal(got, r);

  std::vector<uint8_t> bad = p;
  bad[2] = 0xFF, bad[3] = 0xFF;  // key length 65535 runs past the payload
  std::string msg =
      error_of<DataCorrupt>([&] { decode_payload(bad.data(), bad.size(), got, "here"); });
  EXPECT_NE(msg.find("here: malformed payload"), std::string::npos) << msg;
  bad = p;
  const size_t image_len_at = 16 + 4 * r.labels.size() + r.key.size();
  bad[image_len_at + 7] = 0x10;  // image length 2^60
  error_of<DataCorrupt>([&] { decode_payload(bad.data(), bad.size(), got, "here"); });
  bad = p;
  bad[1] = 0;  // no labels
  error_of<DataCorrupt>([&] { decode_payload(bad.data(), bad.size(), got, "here"); });
  error_of<DataCorrupt>([&] { decode_payload(p.data(), 10, got, "here"); });

  r.labels.clear();
  error_of<Error>([&] { encode_payload(r, p); });
}

TEST(RecordFrame, HostileLengthIsAnErrorNotAnAllocation) {
  std::vector<uint8_t> shard = {'S', 'D', 'L', 'R', 'E', 'C', 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  const uint64_t len = uint64_t{1} << 60;
  uint8_t lb[8];
  std::memcpy(lb, &len, 8);
  shard.insert(shard.end(), lb, lb + 8);
  const uint32_t crc = crc32c(lb, 8);
  uint8_t cb[4];
  std::memcpy(cb, &crc, 4);
  shard.insert(shard.end(), cb, cb + 4);
  shard.resize(shard.size() + 64, 0xAB);
  Record got;
  std::string msg = error_of<DataCorrupt>(
      [&] { parse_frame(shard.data(), shard.size(), 16, 0, "mem.rec", got); });
  EXPECT_NE(
      msg.find("mem.rec: record 0 at byte offset 16: truncated (frame needs 1152921504606846992 "
               "bytes, file ends at 92)"),
      std::string::npos)
      << msg;
  std::vector<uint64_t> offsets;
  error_of<DataCorrupt>([&] { scan_shard(shard.data(), shard.size(), "mem.rec", offsets); });
  // An offset past the end of the buffer is reported, not read.
  error_of<DataCorrupt>([&] { parse_frame(shard.data(), shard.size(), 1000, 0, "mem.rec", got); });
}

}  // namespace
}  // namespace scaledl
