// IDX loading: the real Fashion-MNIST files, and hand-made good, truncated and corrupt files.
#include "data/idx.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;
const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

std::vector<uint8_t> idx_header(uint32_t magic, std::vector<uint32_t> dims) {
  std::vector<uint8_t> out;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return out;
}

// An IDX image file of n h x w images whose pixels are hashes of (image, position).
std::vector<uint8_t> image_file(uint32_t n, uint32_t h, uint32_t w) {
  std::vector<uint8_t> out = idx_header(0x803, {n, h, w});
  for (uint32_t i = 0; i < n * h * w; ++i) out.push_back(static_cast<uint8_t>(mix64(i)));
  return out;
}

std::vector<uint8_t> label_file(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> out = idx_header(0x801, {static_cast<uint32_t>(labels.size())});
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&zs, data.size()));
  zs.next_in = const_cast<Bytef*>(data.data());
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

class IdxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::test_temp_dir("idx");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string put(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  // The error message load_idx(dir_, false) throws ("" if none).
  std::string load_error() {
    try {
      load_idx(dir_.string(), false);
    } catch (const Error& e) {
      EXPECT_EQ(e.component(), "data");
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(IdxFashion, TestSplit) {
  ImageSet set = load_idx(kFashionDir, false);
  ASSERT_EQ(set.size(), 10000);
  EXPECT_EQ(set.images.shape(), (Shape{10000, 28, 28, 1}));
  EXPECT_EQ(set.images.dtype(), DType::u8);
  EXPECT_EQ(set.classes, 10);
  ASSERT_EQ(set.class_names.size(), 10u);
  EXPECT_EQ(set.class_names[0], "T-shirt/top");
  EXPECT_EQ(set.class_names[9], "Ankle boot");
  std::map<int, int> counts;
  for (int32_t l : set.labels) counts[l]++;
  ASSERT_EQ(counts.size(), 10u);
  for (auto [label, count] : counts) {
    EXPECT_GE(label, 0);
    EXPECT_LE(label, 9);
    EXPECT_EQ(count, 1000) << "class " << label;
  }
  EXPECT_EQ(set.labels[0], 9);  // Ankle boot
  EXPECT_EQ(set.labels[1], 2);
  // First image: pixel sum and centre pixel, read from the file independently (Python gzip).
  const uint8_t* img = set.images.data<uint8_t>();
  int64_t sum = 0;
  for (int i = 0; i < 784; ++i) sum += img[i];
  EXPECT_EQ(sum, 33456);
  EXPECT_EQ(img[14 * 28 + 14], 110);
}

TEST(IdxFashion, TrainSplit) {
  ImageSet set = load_idx(kFashionDir, true);
  ASSERT_EQ(set.size(), 60000);
  EXPECT_EQ(set.images.shape(), (Shape{60000, 28, 28, 1}));
  EXPECT_EQ(set.labels[0], 9);
  std::vector<int> counts(10);
  for (int32_t l : set.labels) counts[static_cast<size_t>(l)]++;
  for (int c : counts) EXPECT_EQ(c, 6000);
  const uint8_t* img = set.images.data<uint8_t>();
  int64_t sum = 0;
  for (int i = 0; i < 784; ++i) sum += img[i];
  EXPECT_EQ(sum, 76247);
}

TEST_F(IdxFiles, PlainFilesLoadWhenNoGz) {
  std::vector<uint8_t> images = image_file(3, 2, 4);
  put("t10k-images-idx3-ubyte", images);
  put("t10k-labels-idx1-ubyte", label_file({4, 0, 9}));
  ImageSet set = load_idx(dir_.string(), false);
  ASSERT_EQ(set.size(), 3);
  EXPECT_EQ(set.images.shape(), (Shape{3, 2, 4, 1}));
  EXPECT_EQ(set.labels, (std::vector<int32_t>{4, 0, 9}));
  EXPECT_EQ(0, std::memcmp(set.images.raw(), images.data() + 16, 24));
}

TEST_F(IdxFiles, GzipPreferredAndDecoded) {
  std::vector<uint8_t> images = image_file(5, 3, 3);
  put("train-images-idx3-ubyte.gz", gzip_bytes(images));
  put("train-labels-idx1-ubyte.gz", gzip_bytes(label_file({1, 2, 3, 4, 5})));
  put("train-labels-idx1-ubyte", {0});  // ignored: the .gz wins
  ImageSet set = load_idx(dir_.string(), true);
  EXPECT_EQ(set.labels, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(0, std::memcmp(set.images.raw(), images.data() + 16, 45));
}

TEST_F(IdxFiles, TruncatedPlainNamesFileAndOffset) {
  std::vector<uint8_t> images = image_file(10, 4, 4);  // 16 + 160 bytes
  images.resize(100);
  std::string path = put("t10k-images-idx3-ubyte", images);
  put("t10k-labels-idx1-ubyte", label_file(std::vector<uint8_t>(10, 1)));
  std::string msg = load_error();
  EXPECT_TRUE(has(msg, path + ": data ends early at byte 100")) << msg;
  EXPECT_TRUE(has(msg, "176 bytes")) << msg;
  EXPECT_TRUE(has(msg, "truncated")) << msg;

  put("t10k-images-idx3-ubyte", idx_header(0x803, {10, 4}));  // header cut at byte 12
  msg = load_error();
  EXPECT_TRUE(has(msg, path + ": header ends early at byte 12")) << msg;
}

TEST_F(IdxFiles, TruncatedGzipNamesFileAndOffset) {
  std::vector<uint8_t> images = image_file(200, 28, 28);
  std::vector<uint8_t> gz = gzip_bytes(images);
  std::vector<uint8_t> cut(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2));
  std::string path = put("t10k-images-idx3-ubyte.gz", cut);
  put("t10k-labels-idx1-ubyte", label_file(std::vector<uint8_t>(200, 3)));
  std::string msg = load_error();
  const std::string lead = path + " (decompressed): data ends early at byte ";
  ASSERT_TRUE(has(msg, lead)) << msg;
  long at = std::stol(msg.substr(msg.find(lead) + lead.size()));
  EXPECT_GT(at, 16);
  EXPECT_LT(at, static_cast<long>(images.size()));

  // Only the gzip trailer missing: all data is there but the file still is cut short.
  cut.assign(gz.begin(), gz.end() - 4);
  put("t10k-images-idx3-ubyte.gz", cut);
  msg = load_error();
  EXPECT_TRUE(has(msg, path + ": gzip stream ends early at byte " + std::to_string(cut.size())))
      << msg;
}

TEST_F(IdxFiles, WrongMagic) {
  std::vector<uint8_t> images = image_file(2, 2, 2);
  images[2] = 0;
  images[3] = 0;
  std::string path = put("t10k-images-idx3-ubyte", images);
  put("t10k-labels-idx1-ubyte", label_file({0, 1}));
  std::string msg = load_error();
  EXPECT_TRUE(has(msg, path + ": magic 0x00000000 at byte 0 is not an IDX image file (want "
                              "0x00000803); point --data idx:DIR at the Fashion-MNIST folder"))
      << msg;
  // Label and image files swapped.
  put("t10k-images-idx3-ubyte", label_file({0, 1}));
  EXPECT_TRUE(has(load_error(), "magic 0x00000801 at byte 0")) << load_error();
}

TEST_F(IdxFiles, CountMismatchBadLabelAndTrailingBytes) {
  put("t10k-images-idx3-ubyte", image_file(3, 2, 2));
  std::string labels = put("t10k-labels-idx1-ubyte", label_file({0, 1, 2, 3}));
  EXPECT_TRUE(has(load_error(), "holds 3 images but")) << load_error();

  put("t10k-labels-idx1-ubyte", label_file({0, 12, 2}));
  std::string msg = load_error();
  EXPECT_TRUE(has(msg, labels + ": label 12 of record 1 at byte 9 is out of range (want 0..9)"))
      << msg;

  std::vector<uint8_t> extra = label_file({0, 1, 2});
  extra.push_back(7);
  put("t10k-labels-idx1-ubyte", extra);
  msg = load_error();
  EXPECT_TRUE(has(msg, labels + ": 1 unexpected bytes after the data at byte 11")) << msg;
}

TEST_F(IdxFiles, MissingDirOrFileGivesInstallHint) {
  std::string missing = (dir_ / "nope").string();
  try {
    load_idx(missing, true);
    FAIL();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_TRUE(has(msg, missing)) << msg;
    EXPECT_TRUE(
        has(msg, "install dataset-fashion-mnist (scripts/setup does) or pass --data idx:DIR"))
        << msg;
  }
  std::string msg = load_error();  // empty directory
  EXPECT_TRUE(has(msg, (dir_ / "t10k-images-idx3-ubyte.gz").string() + " not found")) << msg;
  EXPECT_TRUE(has(msg, "install dataset-fashion-mnist")) << msg;
}

// Garbage and hostile headers give Errors, never crashes or huge allocations.
TEST(IdxParse, GarbageNeverCrashes) {
  Rng rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> buf(rng.below(64));
    for (auto& b : buf) b = static_cast<uint8_t>(rng.next_u64());
    if (trial % 2 && buf.size() >= 4) {  // valid magic, random dims
      buf[0] = buf[1] = 0;
      buf[2] = 8;
      buf[3] = static_cast<uint8_t>(trial % 4 ? 3 : 1);
    }
    try {
      Tensor t = parse_idx_images(buf.data(), buf.size(), "fuzz");
      EXPECT_EQ(static_cast<size_t>(t.numel()) + 16, buf.size());
    } catch (const Error&) {
    }
    try {
      auto l = parse_idx_labels(buf.data(), buf.size(), "fuzz", 256);
      EXPECT_EQ(l.size() + 8, buf.size());
    } catch (const Error&) {
    }
  }
  std::vector<uint8_t> huge = idx_header(0x803, {0xffffffffu, 65536, 65536});
  EXPECT_THROW(parse_idx_images(huge.data(), huge.size(), "huge"), Error);
}

}  // namespace
}  // namespace scaledl
