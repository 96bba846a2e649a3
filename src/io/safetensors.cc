// safetensors writing (header JSON via nlohmann ordered_json, data streamed through AtomicFile)
// and reading (every header field checked against the file size before anything is allocated).
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/atomic_file.h"
#include "core/error.h"

namespace scaledl {

namespace {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little endian");

using Json = nlohmann::ordered_json;
constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit
constexpr int kMaxDepth = 16;                 // a real header nests 3 deep
constexpr const char* kCorrupt = "the file is corrupt or not a safetensors file";

const char* st_dtype(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
    case DType::s8:
      return "I8";
    case DType::u8:
      return "U8";
    case DType::s32:
      return "I32";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType& out) {
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::s8, DType::u8, DType::s32})
    if (s == st_dtype(t)) {
      out = t;
      return true;
    }
  return false;
}

// Bytes of `x` in logical (NCHW) order: nhwc 4-D tensors are transposed, any element size.
template <class T>
std::string nhwc_to_nchw(const Tensor& x) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  std::string out(x.nbytes(), '\0');
  const T* s = static_cast<const T*>(x.raw());
  T* d = reinterpret_cast<T*>(out.data());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          d[offset4(Layout::nchw, n, c, h, w, C, H, W)] =
              s[offset4(Layout::nhwc, n, c, h, w, C, H, W)];
  return out;
}

std::string logical_bytes(const Tensor& x) {
  switch (dtype_size(x.dtype())) {
    case 1:
      return nhwc_to_nchw<uint8_t>(x);
    case 2:
      return nhwc_to_nchw<uint16_t>(x);
    default:
      return nhwc_to_nchw<uint32_t>(x);
  }
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

struct Header {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;
};

// Index of the first '[' or '{' nesting deeper than kMaxDepth, or npos.
size_t too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return i;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return std::string::npos;
}

class HeaderParser {
 public:
  HeaderParser(std::string_view text, uint64_t file_size, const std::string& path)
      : text_(text), file_size_(file_size), path_(path) {}

  Header parse() {
    Header h;
    h.data_start = 8 + text_.size();
    if (size_t at = too_deep(text_); at != std::string::npos)
      fail(8 + at, "header nests deeper than " + std::to_string(kMaxDepth) + " levels");
    Json j;
    try {
      j = Json::parse(text_.begin(), text_.end());
    } catch (const Json::parse_error& e) {
      std::string what = e.what();
      size_t colon = what.find("] ");
      fail(8 + (e.byte ? e.byte - 1 : 0),
           "header is not valid JSON (" +
               (colon == std::string::npos ? what : what.substr(colon + 2)) + ")");
    }
    if (!j.is_object())
      fail(8, std::string("header is a JSON ") + j.type_name() + ", not an object");
    for (auto& [name, value] : j.items()) {
      if (name == "__metadata__")
        read_metadata(value, h.metadata);
      else
        h.entries.push_back(read_entry(name, value));
    }
    check_offsets(h);
    return h;
  }

 private:
  [[noreturn]] void fail(uint64_t byte, const std::string& what,
                         const std::string& hint = kCorrupt) const {
    throw Error("checkpoint",
                path_ + ": " + what + " at byte " + std::to_string(byte) + "; " + hint);
  }
  // Byte where the key `name` appears in the file (the header start if not found).
  uint64_t key_byte(const std::string& name) const {
    size_t at = text_.find(Json(name).dump());
    return 8 + (at == std::string::npos ? 0 : at);
  }
  [[noreturn]] void fail_entry(const std::string& name, const std::string& what) const {
    fail(key_byte(name), "tensor '" + name + "': " + what);
  }

  void read_metadata(const Json& value, std::map<std::string, std::string>& out) const {
    if (!value.is_object()) fail(key_byte("__metadata__"), "__metadata__ is not an object");
    for (auto& [k, v] : value.items()) {
      if (!v.is_string())
        fail(key_byte(k),
             "__metadata__ value of '" + k + "' is a " + v.type_name() + ", not a string");
      out[k] = v.get<std::string>();
    }
  }

  Entry read_entry(const std::string& name, const Json& v) const {
    if (!v.is_object())
      fail_entry(name, std::string("entry is a ") + v.type_name() + ", not an object");
    Entry e;
    e.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) fail_entry(name, "no \"dtype\" string");
    if (!parse_st_dtype(dt->get<std::string>(), e.dtype))
      fail(key_byte(name),
           "tensor '" + name + "' has unknown dtype '" + dt->get<std::string>() + "'",
           "scaledl reads F32, F16, BF16, I8, U8 and I32; convert the file to one of them");
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) fail_entry(name, "no \"shape\" array");
    uint64_t numel = 1;
    for (const Json& d : *sh) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t{INT64_MAX})
        fail_entry(name, "shape " + sh->dump() + " is not a list of non-negative integers");
      const uint64_t dim = d.get<uint64_t>();
      if (__builtin_mul_overflow(numel, dim, &numel))
        fail_entry(name, "shape " + sh->dump() + " is too large");
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail_entry(name, "no \"data_offsets\" pair of non-negative integers");
    e.begin = (*off)[0].get<uint64_t>();
    e.end = (*off)[1].get<uint64_t>();
    if (e.begin > e.end) fail_entry(name, "data_offsets " + off->dump() + " are out of order");
    uint64_t bytes = 0;
    const bool overflow = __builtin_mul_overflow(numel, uint64_t{dtype_size(e.dtype)}, &bytes);
    if (overflow || bytes != e.end - e.begin)
      fail_entry(name, "shape " + sh->dump() + " of " + dt->get<std::string>() + " needs " +
                           (overflow ? std::string("over 2^64") : std::to_string(bytes)) +
                           " bytes but data_offsets " + off->dump() + " hold " +
                           std::to_string(e.end - e.begin));
    if (e.end > file_size_ - (8 + text_.size()))
      throw Error("checkpoint",
                  path_ + ": tensor '" + name + "': data_offsets " + off->dump() + " end at byte " +
                      std::to_string(8 + text_.size() + e.end) +
                      ", past the end of the file at byte " + std::to_string(file_size_) +
                      " (header at byte " + std::to_string(key_byte(name)) +
                      "); the file is truncated; write the checkpoint again or use an older one");
    return e;
  }

  // The tensors' byte ranges, in offset order, must tile the data section exactly.
  void check_offsets(const Header& h) const {
    std::vector<const Entry*> sorted;
    for (const Entry& e : h.entries) sorted.push_back(&e);
    std::stable_sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    uint64_t at = 0;
    const Entry* prev = nullptr;
    for (const Entry* e : sorted) {
      if (e->begin < at)
        fail(h.data_start + e->begin, "tensor '" + e->name + "' data [" + std::to_string(e->begin) +
                                          ", " + std::to_string(e->end) + ") overlaps tensor '" +
                                          prev->name + "' [" + std::to_string(prev->begin) + ", " +
                                          std::to_string(prev->end) + ")");
      if (e->begin > at)
        fail(h.data_start + at, std::to_string(e->begin - at) +
                                    " bytes belong to no tensor before tensor '" + e->name + "'");
      at = e->end;
      prev = e;
    }
    const uint64_t data_bytes = file_size_ - h.data_start;
    if (at != data_bytes)
      fail(h.data_start + at,
           std::to_string(data_bytes - at) + " bytes after the last tensor belong to no tensor");
  }

  std::string_view text_;
  uint64_t file_size_;
  const std::string& path_;
};

// Validates the 8-byte length prefix; returns the header length.
uint64_t header_length(const uint8_t* prefix, uint64_t file_size, const std::string& path) {
  if (file_size < 8)
    throw Error("checkpoint", path + ": file is " + std::to_string(file_size) +
                                  " bytes, too short for the 8-byte header length at byte 0; " +
                                  "the file is truncated or not a safetensors file");
  uint64_t n;
  std::memcpy(&n, prefix, 8);
  if (n > file_size - 8 || n > kMaxHeader)
    throw Error("checkpoint", path + ": header length " + std::to_string(n) +
                                  " at byte 0 runs past the end of the file at byte " +
                                  std::to_string(file_size) +
                                  "; the file is truncated or not a safetensors file");
  return n;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void read_at(int fd, void* buf, uint64_t bytes, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(buf);
  while (bytes > 0) {
    ssize_t n = ::pread(fd, p, std::min<uint64_t>(bytes, 1u << 30), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error("checkpoint", path + ": read failed at byte " + std::to_string(offset) + ": " +
                                    (n < 0 ? std::strerror(errno) : "file shrank while reading") +
                                    "; check the disk");
    p += n;
    bytes -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__" || header.contains(name))
      throw Error("checkpoint",
                  path + ": tensor name '" + name +
                      "' is empty, reserved or used twice; give each tensor its own name");
    if (!t.defined() || !t.device().is_cpu())
      throw Error("checkpoint", path + ": tensor '" + name + "' is " +
                                    (t.defined() ? t.str() : std::string("undefined")) +
                                    "; copy it to the cpu before saving");
    const uint64_t bytes = t.nbytes();
    header[name] = {{"dtype", st_dtype(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception&) {
    throw Error("checkpoint", path + ": a tensor name or metadata string is not valid UTF-8; " +
                                  "use UTF-8 names");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  AtomicFile file(path);
  file.write(&n, 8);
  file.write(text);
  for (const auto& [name, t] : tensors) {
    if (t.ndim() == 4 && t.layout() == Layout::nhwc)
      file.write(logical_bytes(t));
    else
      file.write(t.raw(), t.nbytes());
  }
  file.commit();
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name) {
  const uint64_t n = header_length(data, size, name);
  Header h = HeaderParser(std::string_view(reinterpret_cast<const char*>(data) + 8, n), size, name)
                 .parse();
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  for (const Entry& e : h.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw(), data + h.data_start + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0)
    throw Error("checkpoint",
                path + ": cannot open: " + std::strerror(errno) + "; check the checkpoint path");
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw Error("checkpoint", path + ": not a regular file; give the path of a .safetensors file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint8_t prefix[8] = {};
  if (size >= 8) read_at(f.fd, prefix, 8, 0, path);
  const uint64_t n = header_length(prefix, size, path);
  std::string text(n, '\0');
  read_at(f.fd, text.data(), n, 8, path);
  Header h = HeaderParser(text, size, path).parse();
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  for (const Entry& e : h.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    read_at(f.fd, t.raw(), e.end - e.begin, h.data_start + e.begin, path);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace scaledl
