// Writes the seed corpora of the fuzz targets: a few small valid inputs and one of each kind of
// damage, so the fuzzer starts from deep inside the formats. Usage: fuzz_make_corpus OUT_DIR
// (writes OUT_DIR/record/*, OUT_DIR/idx/* and OUT_DIR/onnx/*). Run by fuzz/make_corpus.sh; the
// output is committed.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "data/record.h"

void write_onnx_seeds(const std::filesystem::path& dir);  // onnx_seeds.cc

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void put(const fs::path& path, const Bytes& b) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A shard of `n` small records (alternating jpeg-like and raw_u8), written by ShardWriter.
Bytes shard_bytes(int n, const fs::path& tmp) {
  const std::string path = (tmp / "seed.rec").string();
  {
    scaledl::ShardWriter w(path);
    for (int i = 0; i < n; ++i) {
      scaledl::Record r;
      r.key = "seed/" + std::to_string(i);
      r.labels = {i % 10};
      if (i % 3 == 2) r.labels.push_back(7);
      if (i % 2 == 0) {
        r.image = {0xFF, 0xD8, 0xFF, 0xE0, static_cast<uint8_t>(i), 0xFF, 0xD9};
      } else {
        r.encoding = scaledl::ImageEncoding::raw_u8;
        r.height = 2, r.width = 3, r.channels = 1;
        r.image = {1, 2, 3, 4, 5, static_cast<uint8_t>(i)};
      }
      w.add(r);
    }
    w.finish();
  }
  Bytes b = slurp(path);
  fs::remove(path);
  fs::remove(tmp / "seed.idx");
  return b;
}

Bytes idx(uint32_t magic, std::vector<uint32_t> dims, size_t payload) {
  Bytes out;
  auto be = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
  };
  be(magic);
  for (uint32_t d : dims) be(d);
  for (size_t i = 0; i < payload; ++i) out.push_back(static_cast<uint8_t>(i * 37 % 10));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1], rec = out / "record", id = out / "idx";
  fs::create_directories(rec);
  fs::create_directories(id);
  const fs::path tmp = fs::temp_directory_path() / ("scaledl_corpus_" + std::to_string(::getpid()));
  fs::create_directories(tmp);

  const Bytes good = shard_bytes(4, tmp);
  put(rec / "valid-4", good);
  put(rec / "valid-1", shard_bytes(1, tmp));
  put(rec / "header-only", shard_bytes(0, tmp));
  Bytes b = good;
  b.resize(b.size() - 9);
  put(rec / "truncated", b);
  b = good;
  b[16 + 12 + 3] ^= 0x20;  // first payload's key length
  put(rec / "payload-flip", b);
  b = good;
  b[16 + 2] ^= 0x01;  // first length field
  put(rec / "length-flip", b);
  b = good;
  b[8] = 2;
  put(rec / "newer-version", b);
  b = good;
  b[0] = 'X';
  put(rec / "bad-magic", b);
  // One frame whose length (2^60) passes its CRC: the reader must refuse it, not allocate it.
  b.assign(good.begin(), good.begin() + 16 + 12);
  const uint64_t huge = uint64_t{1} << 60;
  std::memcpy(b.data() + 16, &huge, 8);
  const uint32_t crc = scaledl::crc32c(b.data() + 16, 8);
  std::memcpy(b.data() + 24, &crc, 4);
  b.resize(b.size() + 32, 0);
  put(rec / "hostile-length", b);

  put(id / "images-2x3x3", idx(0x803, {2, 3, 3}, 18));
  put(id / "labels-5", idx(0x801, {5}, 5));
  put(id / "images-truncated", idx(0x803, {4, 3, 3}, 20));
  put(id / "images-huge-dims", idx(0x803, {0xFFFFFFFF, 65536, 65536}, 4));
  put(id / "labels-out-of-range", Bytes{0, 0, 8, 1, 0, 0, 0, 2, 3, 200});
  put(id / "bad-magic", idx(0x1f8b, {1}, 1));
  write_onnx_seeds(out / "onnx");
  fs::remove_all(tmp);
  std::printf("corpus written to %s\n", out.c_str());
  return 0;
}
