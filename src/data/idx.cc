// IDX reading: whole file into memory (gunzipped with zlib's inflate when it is gzip), then
// validated parsing of the big-endian header and the u8 payload.
#include "data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/crc32c.h"
#include "core/error.h"

namespace scaledl {

namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;
constexpr const char* kInstallHint =
    "install dataset-fashion-mnist (scripts/setup does) or pass --data idx:DIR";
constexpr const char* kTruncatedHint =
    "the file is truncated; reinstall dataset-fashion-mnist or download it again";

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

std::vector<uint8_t> read_file(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f)
    throw Error("data", path + ": cannot open: " + std::strerror(errno) + "; " + kInstallHint);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) out.insert(out.end(), buf, buf + n);
  if (std::ferror(f.get()))
    throw Error("data", path + ": read failed at byte " + std::to_string(out.size()) + ": " +
                            std::strerror(errno) + "; check the disk");
  return out;
}

// The gunzipped bytes of `gz`; `complete` is false when the stream stops before its end.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& gz, const std::string& path,
                            bool& complete) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    throw Error("data", path + ": zlib could not start; out of memory?");
  // The gzip trailer holds the data size mod 2^32: a good first guess when it is plausible.
  size_t hint = gz.size() * 4;
  if (gz.size() >= 18) {
    const uint8_t* t = gz.data() + gz.size() - 4;
    size_t isize = t[0] | (t[1] << 8) | (t[2] << 16) | (size_t{t[3]} << 24);
    if (isize <= gz.size() * 1100) hint = isize;
  }
  std::vector<uint8_t> out(hint + 4096);
  zs.next_in = const_cast<Bytef*>(gz.data());
  zs.avail_in = static_cast<uInt>(gz.size());
  complete = false;
  int rc = Z_OK;
  while (true) {
    if (zs.total_out == out.size()) {
      if (out.size() > (size_t{1} << 34))
        throw Error("data", path + ": decompresses past 16 GiB; not an IDX file");
      out.resize(out.size() * 2);
    }
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - zs.total_out, 1u << 30));
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      complete = true;
      // Concatenated gzip members continue the same data stream.
      if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        uLong in = zs.total_in, outn = zs.total_out;
        inflateReset(&zs);
        zs.total_in = in;
        zs.total_out = outn;
        complete = false;
        continue;
      }
      break;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ended mid-stream
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::string msg = zs.msg ? zs.msg : "error " + std::to_string(rc);
      size_t at = zs.total_in;
      inflateEnd(&zs);
      throw Error("data", path + ": corrupt gzip data (" + msg + ") near compressed byte " +
                              std::to_string(at) + "; " + kTruncatedHint);
    }
  }
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

// "<dir>/<base>.gz" if present, else "<dir>/<base>", else an Error with the install hint.
std::string find_idx_file(const std::string& dir, const std::string& base) {
  namespace fs = std::filesystem;
  fs::path gz = fs::path(dir) / (base + ".gz"), plain = fs::path(dir) / base;
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(plain, ec)) return plain.string();
  throw Error("data", gz.string() + " not found (nor uncompressed " + plain.filename().string() +
                          "); " + kInstallHint);
}

// An IDX file's bytes (gunzipped if need be) and the name to use in parse errors.
struct IdxBytes {
  std::vector<uint8_t> data;
  std::string name;
  bool complete = true;  // false: a gzip stream that stops before its end
  size_t file_bytes = 0;
};

IdxBytes read_idx_file(const std::string& path) {
  IdxBytes out;
  std::vector<uint8_t> raw = read_file(path);
  out.file_bytes = raw.size();
  out.name = path;
  if (raw.size() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
    out.name = path + " (decompressed)";
    out.data = gunzip(raw, path, out.complete);
  } else {
    out.data = std::move(raw);
  }
  return out;
}

void check_gzip_complete(const IdxBytes& f, const std::string& path) {
  if (!f.complete)
    throw Error("data", path + ": gzip stream ends early at byte " + std::to_string(f.file_bytes) +
                            " (after " + std::to_string(f.data.size()) + " bytes of data); " +
                            kTruncatedHint);
}

void check_header(const uint8_t* data, size_t size, const std::string& name, uint32_t magic,
                  size_t header_bytes, const char* what) {
  if (size < 4)
    throw Error("data", name + ": ends at byte " + std::to_string(size) +
                            " inside the 4-byte magic; not an IDX " + what + " file; " +
                            kInstallHint);
  uint32_t got = be32(data);
  if (got != magic)
    throw Error("data", name + ": magic " + hex32(got) + " at byte 0 is not an IDX " + what +
                            " file (want " + hex32(magic) + "); point --data idx:DIR at the " +
                            "Fashion-MNIST folder");
  if (size < header_bytes)
    throw Error("data", name + ": header ends early at byte " + std::to_string(size) + " (want " +
                            std::to_string(header_bytes) + " bytes); " + kTruncatedHint);
}

// Checks that `size` holds exactly header + payload bytes.
void check_payload(size_t size, const std::string& name, size_t header, uint64_t payload,
                   const std::string& promise) {
  if (payload > size - header)
    throw Error("data", name + ": data ends early at byte " + std::to_string(size) +
                            "; the header promises " + promise + " (" +
                            std::to_string(header + payload) + " bytes); " + kTruncatedHint);
  if (payload < size - header)
    throw Error("data", name + ": " + std::to_string(size - header - payload) +
                            " unexpected bytes after the data at byte " +
                            std::to_string(header + payload) + "; the header promises " + promise +
                            "; the file is corrupt");
}

const std::vector<std::string>& fashion_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

}  // namespace

Tensor parse_idx_images(const uint8_t* data, size_t size, const std::string& name) {
  check_header(data, size, name, kImageMagic, 16, "image");
  uint64_t n = be32(data + 4), h = be32(data + 8), w = be32(data + 12);
  if (h == 0 || w == 0 || h > 65536 || w > 65536)
    throw Error("data", name + ": image size " + std::to_string(h) + "x" + std::to_string(w) +
                            " at byte 8 is not plausible; the file is corrupt");
  const uint64_t payload = n * h * w;  // < 2^64: n < 2^32 and h * w <= 2^32
  check_payload(size, name, 16, payload,
                std::to_string(n) + " images of " + std::to_string(h) + "x" + std::to_string(w));
  Tensor images = Tensor::empty(
      {static_cast<int64_t>(n), static_cast<int64_t>(h), static_cast<int64_t>(w), 1}, DType::u8);
  if (payload) std::memcpy(images.raw(), data + 16, payload);
  return images;
}

std::vector<int32_t> parse_idx_labels(const uint8_t* data, size_t size, const std::string& name,
                                      int classes) {
  check_header(data, size, name, kLabelMagic, 8, "label");
  uint64_t n = be32(data + 4);
  check_payload(size, name, 8, n, std::to_string(n) + " labels");
  std::vector<int32_t> labels(n);
  for (uint64_t i = 0; i < n; ++i) {
    labels[i] = data[8 + i];
    if (labels[i] >= classes)
      throw Error("data", name + ": label " + std::to_string(labels[i]) + " of record " +
                              std::to_string(i) + " at byte " + std::to_string(8 + i) +
                              " is out of range (want 0.." + std::to_string(classes - 1) +
                              "); the file is corrupt or has more classes than expected");
  }
  return labels;
}

ImageSet load_idx(const std::string& dir, bool train, int classes) {
  if (classes < 1 || classes > 256)
    throw Error("data", "IDX class count " + std::to_string(classes) + " must be in 1..256");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error("data", dir + ": no such directory; " + kInstallHint);
  const std::string split = train ? "train" : "t10k";
  const std::string image_path = find_idx_file(dir, split + "-images-idx3-ubyte");
  const std::string label_path = find_idx_file(dir, split + "-labels-idx1-ubyte");

  ImageSet set;
  {
    IdxBytes f = read_idx_file(image_path);
    set.images = parse_idx_images(f.data.data(), f.data.size(), f.name);
    check_gzip_complete(f, image_path);
  }
  {
    IdxBytes f = read_idx_file(label_path);
    set.labels = parse_idx_labels(f.data.data(), f.data.size(), f.name, classes);
    check_gzip_complete(f, label_path);
  }
  if (set.images.dim(0) != set.size())
    throw Error("data", image_path + " holds " + std::to_string(set.images.dim(0)) +
                            " images but " + label_path + " holds " + std::to_string(set.size()) +
                            " labels; use files of the same split");
  set.classes = classes;
  if (classes == 10) set.class_names = fashion_names();
  return set;
}

}  // namespace scaledl
