// NumPy .npy files: the magic "\x93NUMPY", a version (1.0: u16 header length; 2.0: u32), a
// Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)} padded with spaces,
// then the elements in C order. Read: little-endian <f4, <f8, <i4, <i8 and |u1, C order. Written:
// <f4, <i4 and <i8, version 1.0 (2.0 when the header needs it), atomically.
//
// NpyFile memory-maps the file read-only: opening it parses and checks the header against the
// file size and reads no element; the elements asked for are paged in as they are touched, so a
// file larger than RAM (10,000 x 3 x 224 x 224 f32 is 6 GB) can be read sample by sample.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace scaledl {

enum class NpyDType : uint8_t { f32, f64, i32, i64, u8 };

std::string_view npy_descr(NpyDType t);  // "<f4", "<f8", "<i4", "<i8", "|u1"
size_t npy_itemsize(NpyDType t);

// What a .npy header says, checked: `data_offset` is where the elements start.
struct NpyHeader {
  NpyDType dtype = NpyDType::f32;
  std::vector<int64_t> shape;  // empty for a 0-d array
  size_t data_offset = 0;
  int64_t elements() const;  // the product of shape (1 for 0-d)
  size_t data_bytes() const { return static_cast<size_t>(elements()) * npy_itemsize(dtype); }
};

// Parses and checks the header of `size` bytes of .npy file (the elements must follow it
// exactly: no fewer, no more). Throws Error("npy", "NAME: what at byte offset K; what to do").
NpyHeader parse_npy_header(const uint8_t* data, size_t size, const std::string& name);

// A .npy file, memory-mapped read-only (see above). Thread-safe to read; movable.
class NpyFile {
 public:
  explicit NpyFile(const std::string& path);  // throws Error("npy", ...) naming path
  ~NpyFile();
  NpyFile(NpyFile&& other) noexcept;
  NpyFile& operator=(NpyFile&& other) noexcept;
  NpyFile(const NpyFile&) = delete;
  NpyFile& operator=(const NpyFile&) = delete;

  const std::string& path() const { return path_; }
  const NpyHeader& header() const { return header_; }
  NpyDType dtype() const { return header_.dtype; }
  const std::vector<int64_t>& shape() const { return header_.shape; }
  int64_t elements() const { return header_.elements(); }
  // The elements' bytes as stored (little-endian, C order), data_bytes() of them.
  const uint8_t* data() const { return map_ + header_.data_offset; }

  // Elements [begin, begin + count) as f32: <f4 copied, <f8 rounded to nearest. Throws Error
  // for an integer file; a range outside the array is a bug (SDL_ASSERT).
  void read_f32(int64_t begin, int64_t count, float* out) const;
  // Elements [begin, begin + count) as i64 (<i4, <i8, |u1). Throws Error for a float file.
  void read_i64(int64_t begin, int64_t count, int64_t* out) const;
  std::vector<float> to_f32() const;  // every element
  std::vector<int64_t> to_i64() const;

 private:
  void check_range(int64_t begin, int64_t count) const;
  void release() noexcept;

  std::string path_;
  NpyHeader header_;
  const uint8_t* map_ = nullptr;
  size_t map_bytes_ = 0;
};

// Write an array of `shape` (C order, product of shape elements at `data`) to `path` atomically
// (core/atomic_file.h). Errors throw Error("io", ...).
void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);
void write_npy_i32(const std::string& path, const std::vector<int64_t>& shape, const int32_t* data);
void write_npy_i64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data);

}  // namespace scaledl
