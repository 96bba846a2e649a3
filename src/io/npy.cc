// .npy reading (the header dict parsed by a small scanner that reports byte offsets; the file
// memory-mapped) and writing (header padded to 64 bytes, as numpy does, through AtomicFile).
#include "io/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"

namespace scaledl {

static_assert(std::endian::native == std::endian::little, ".npy I/O assumes little endian");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr int64_t kMaxBytes = int64_t{1} << 60;  // beyond any file; keeps products exact
constexpr const char* kResave = "re-save it with numpy.save";

[[noreturn]] void bad(const std::string& name, size_t offset, const std::string& what,
                      const std::string& todo) {
  throw Error("npy",
              name + ": " + what + " at byte offset " + std::to_string(offset) + "; " + todo);
}

constexpr NpyDType kDTypes[] = {NpyDType::f32, NpyDType::f64, NpyDType::i32, NpyDType::i64,
                                NpyDType::u8};

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// The header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } and spaces.
// Offsets in errors are file offsets (`base` is where the dict starts).
class DictScanner {
 public:
  DictScanner(const uint8_t* p, size_t n, size_t base, const std::string& name)
      : p_(p), n_(n), base_(base), name_(name) {}

  void parse(NpyHeader& h) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{', "the header dict does not start with '{'");
    for (;;) {
      skip_ws();
      if (peek() == '}') break;
      const size_t key_at = i_;
      const std::string key = string_literal("a quoted key");
      skip_ws();
      expect(':', "no ':' after key '" + key + "'");
      skip_ws();
      if (key == "descr") {
        if (have_descr) fail(key_at, "key 'descr' appears twice");
        h.dtype = descr();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_order) fail(key_at, "key 'fortran_order' appears twice");
        const size_t at = i_;
        if (word("True"))
          bad(name_, base_ + at, "fortran_order is True (column-major data)",
              "save a C-order array: numpy.save(f, numpy.ascontiguousarray(a))");
        if (!word("False")) fail(at, "fortran_order is neither True nor False");
        have_order = true;
      } else if (key == "shape") {
        if (have_shape) fail(key_at, "key 'shape' appears twice");
        h.shape = shape();
        have_shape = true;
      } else {
        fail(key_at, "unknown key '" + key + "' (a .npy header has descr, fortran_order, shape)");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') fail(i_, "want ',' or '}' after the value of '" + key + "'");
    }
    ++i_;  // '}'
    skip_ws();
    if (i_ != n_) fail(i_, "unexpected text after the header dict");
    if (!have_descr || !have_order || !have_shape)
      fail(n_, std::string("the header dict has no '") +
                   (!have_descr   ? "descr"
                    : !have_order ? "fortran_order"
                                  : "shape") +
                   "' key");
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) {
    bad(name_, base_ + at, "malformed header: " + what, kResave);
  }
  int peek() const { return i_ < n_ ? p_[i_] : -1; }
  void skip_ws() {
    while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
  }
  void expect(char c, const std::string& what) {
    if (peek() != c) fail(i_, what);
    ++i_;
  }
  bool word(std::string_view w) {
    if (n_ - i_ < w.size() || std::memcmp(p_ + i_, w.data(), w.size()) != 0) return false;
    i_ += w.size();
    return true;
  }
  std::string string_literal(const std::string& what) {
    const int q = peek();
    if (q != '\'' && q != '"') fail(i_, "want " + what);
    const size_t start = ++i_;
    while (i_ < n_ && p_[i_] != q) {
      if (p_[i_] == '\\') fail(i_, "escape sequences are not expected in a .npy header");
      ++i_;
    }
    if (i_ == n_) fail(start - 1, "unterminated string");
    return std::string(reinterpret_cast<const char*>(p_ + start), i_++ - start);
  }
  NpyDType descr() {
    const size_t at = i_;
    if (peek() == '[')
      bad(name_, base_ + at, "structured dtype (a list of fields)",
          "save a plain numeric array (<f4, <f8, <i4, <i8 or |u1)");
    const std::string d = string_literal("a quoted dtype such as '<f4'");
    for (NpyDType t : kDTypes)
      if (d == npy_descr(t)) return t;
    if (d == "<u1" || d == ">u1") return NpyDType::u8;  // one byte: the byte order is moot
    if (d.size() > 1 && d[0] == '>')
      bad(name_, base_ + at, "dtype '" + d + "' is big-endian",
          "convert it: numpy.save(f, a.astype(a.dtype.newbyteorder('<')))");
    bad(name_, base_ + at, "dtype '" + d + "' is not supported",
        "save as one of <f4, <f8, <i4, <i8, |u1 (e.g. a.astype('<f4'))");
  }
  std::vector<int64_t> shape() {
    std::vector<int64_t> s;
    expect('(', "shape is not a tuple");
    for (;;) {
      skip_ws();
      if (peek() == ')') break;
      const size_t at = i_;
      if (peek() < '0' || peek() > '9') fail(at, "shape holds a non-integer");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        v = v * 10 + (p_[i_++] - '0');
        if (v > kMaxBytes) fail(at, "shape dimension too large");
      }
      if (peek() == 'L') ++i_;  // Python 2 longs
      s.push_back(v);
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != ')') fail(i_, "want ',' or ')' in the shape");
    }
    ++i_;
    return s;
  }

  const uint8_t* p_;
  size_t n_, i_ = 0, base_;
  const std::string& name_;
};

uint32_t le_u32(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, NpyDType t,
               const void* data) {
  NpyHeader h;
  h.dtype = t;
  h.shape = shape;
  for (int64_t d : shape)
    if (d < 0) throw Error("io", path + ": shape " + shape_str(shape) + " has a negative size");
  SDL_ASSERT(data != nullptr || h.elements() == 0, "write_npy: no data");
  std::string dict = "{'descr': '" + std::string(npy_descr(t)) +
                     "', 'fortran_order': False, 'shape': " + shape_str(shape) + ", }";
  // numpy pads magic + version + length + dict + '\n' to a multiple of 64 bytes.
  size_t pre = kMagicLen + 2 + 2;
  auto padded = [&] { return (pre + dict.size() + 1 + 63) / 64 * 64; };
  if (padded() - pre > 0xffff) pre = kMagicLen + 2 + 4;
  const size_t total = padded(), len = total - pre;
  std::string head(kMagic, kMagicLen);
  head.push_back(static_cast<char>(pre == 10 ? 1 : 2));
  head.push_back(0);
  for (size_t k = 0; k < pre - kMagicLen - 2; ++k)
    head.push_back(static_cast<char>(len >> (8 * k)));
  head += dict;
  head.append(total - head.size() - 1, ' ');
  head.push_back('\n');
  AtomicFile f(path);
  f.write(head);
  f.write(data, h.data_bytes());
  f.commit();
}

}  // namespace

std::string_view npy_descr(NpyDType t) {
  switch (t) {
    case NpyDType::f32:
      return "<f4";
    case NpyDType::f64:
      return "<f8";
    case NpyDType::i32:
      return "<i4";
    case NpyDType::i64:
      return "<i8";
    case NpyDType::u8:
      return "|u1";
  }
  return "?";
}

size_t npy_itemsize(NpyDType t) {
  switch (t) {
    case NpyDType::f32:
    case NpyDType::i32:
      return 4;
    case NpyDType::f64:
    case NpyDType::i64:
      return 8;
    case NpyDType::u8:
      return 1;
  }
  return 0;
}

int64_t NpyHeader::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

NpyHeader parse_npy_header(const uint8_t* data, size_t size, const std::string& name) {
  if (size < kMagicLen || std::memcmp(data, kMagic, kMagicLen) != 0)
    bad(name, 0, "not a .npy file (no \\x93NUMPY magic)", "give a file written by numpy.save");
  if (size < kMagicLen + 2)
    bad(name, size, "the file ends inside the version",
        "the file is truncated; " + std::string(kResave));
  const int major = data[6], minor = data[7];
  if ((major != 1 && major != 2) || minor != 0)
    bad(name, 6, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor),
        "versions 1.0 and 2.0 are read; " + std::string(kResave) + " of a plain numeric array");
  const int len_bytes = major == 1 ? 2 : 4;
  const size_t start = kMagicLen + 2 + static_cast<size_t>(len_bytes);
  if (size < start)
    bad(name, size, "the file ends inside the header length", "the file is truncated");
  const size_t hlen = le_u32(data + 8, len_bytes);
  if (hlen > size - start)
    bad(name, 8,
        "header length " + std::to_string(hlen) + " runs past the end of the file (" +
            std::to_string(size) + " bytes)",
        "the file is truncated; " + std::string(kResave));
  NpyHeader h;
  DictScanner(data + start, hlen, start, name).parse(h);
  h.data_offset = start + hlen;
  int64_t bytes = static_cast<int64_t>(npy_itemsize(h.dtype));
  for (int64_t d : h.shape) {
    if (d != 0 && bytes > kMaxBytes / d)
      bad(name, start, "shape " + shape_str(h.shape) + " is too large for any file", kResave);
    bytes *= d;
  }
  const size_t have = size - h.data_offset, need = static_cast<size_t>(bytes);
  if (have != need) {
    const std::string what = "shape " + shape_str(h.shape) + " of " +
                             std::string(npy_descr(h.dtype)) + " needs " + std::to_string(need) +
                             " bytes of data but the file holds " + std::to_string(have);
    if (have < need)
      bad(name, h.data_offset,
          what + " (expected " + std::to_string(h.data_offset + need) + " bytes in all, actual " +
              std::to_string(size) + ")",
          "the file is truncated; copy or save it again");
    bad(name, h.data_offset, what + " (" + std::to_string(have - need) + " bytes too many)",
        "the shape does not match the file's length; " + std::string(kResave));
  }
  return h;
}

NpyFile::NpyFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("npy", path + ": cannot open: " + std::strerror(errno) +
                           "; check the path (a .npy file written by numpy.save)");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("npy", path + ": not a regular file; give the path of a .npy file");
  }
  map_bytes_ = static_cast<size_t>(st.st_size);
  if (map_bytes_ > 0) {
    void* m = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_SHARED, fd, 0);
    const int err = errno;
    ::close(fd);
    if (m == MAP_FAILED)
      throw Error("npy", path + ": cannot memory-map " + std::to_string(map_bytes_) +
                             " bytes: " + std::strerror(err) + "; check free address space");
    map_ = static_cast<const uint8_t*>(m);
  } else {
    ::close(fd);
  }
  try {
    header_ = parse_npy_header(map_, map_bytes_, path);
  } catch (...) {
    release();
    throw;
  }
}

NpyFile::~NpyFile() {
  release();
}

NpyFile::NpyFile(NpyFile&& o) noexcept
    : path_(std::move(o.path_)),
      header_(std::move(o.header_)),
      map_(std::exchange(o.map_, nullptr)),
      map_bytes_(std::exchange(o.map_bytes_, 0)) {}

NpyFile& NpyFile::operator=(NpyFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    header_ = std::move(o.header_);
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
  }
  return *this;
}

void NpyFile::release() noexcept {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
}

void NpyFile::check_range(int64_t begin, int64_t count) const {
  SDL_ASSERT(begin >= 0 && count >= 0 && begin <= elements() - count,
             "NpyFile: element range outside the array");
}

void NpyFile::read_f32(int64_t begin, int64_t count, float* out) const {
  check_range(begin, count);
  const uint8_t* p = data() + static_cast<size_t>(begin) * npy_itemsize(dtype());
  const size_t n = static_cast<size_t>(count);
  if (dtype() == NpyDType::f32) {
    std::memcpy(out, p, n * sizeof(float));
  } else if (dtype() == NpyDType::f64) {
    for (size_t k = 0; k < n; ++k) {
      double v;
      std::memcpy(&v, p + k * sizeof v, sizeof v);
      out[k] = static_cast<float>(v);
    }
  } else {
    throw Error("npy", path_ + ": holds " + std::string(npy_descr(dtype())) +
                           " integers where floats (<f4 or <f8) are wanted; save a.astype('<f4')");
  }
}

void NpyFile::read_i64(int64_t begin, int64_t count, int64_t* out) const {
  check_range(begin, count);
  const uint8_t* p = data() + static_cast<size_t>(begin) * npy_itemsize(dtype());
  const size_t n = static_cast<size_t>(count);
  switch (dtype()) {
    case NpyDType::i64:
      std::memcpy(out, p, n * sizeof(int64_t));
      return;
    case NpyDType::i32:
      for (size_t k = 0; k < n; ++k) {
        int32_t v;
        std::memcpy(&v, p + k * sizeof v, sizeof v);
        out[k] = v;
      }
      return;
    case NpyDType::u8:
      for (size_t k = 0; k < n; ++k) out[k] = p[k];
      return;
    default:
      throw Error("npy", path_ + ": holds " + std::string(npy_descr(dtype())) +
                             " floats where integers (<i4, <i8 or |u1) are wanted; save "
                             "a.astype('<i8')");
  }
}

std::vector<float> NpyFile::to_f32() const {
  std::vector<float> v(static_cast<size_t>(elements()));
  read_f32(0, elements(), v.data());
  return v;
}

std::vector<int64_t> NpyFile::to_i64() const {
  std::vector<int64_t> v(static_cast<size_t>(elements()));
  read_i64(0, elements(), v.data());
  return v;
}

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  write_npy(path, shape, NpyDType::f32, data);
}
void write_npy_i32(const std::string& path, const std::vector<int64_t>& shape,
                   const int32_t* data) {
  write_npy(path, shape, NpyDType::i32, data);
}
void write_npy_i64(const std::string& path, const std::vector<int64_t>& shape,
                   const int64_t* data) {
  write_npy(path, shape, NpyDType::i64, data);
}

}  // namespace scaledl
