// Tensor: shared storage + shape + dtype + device + layout tag.
//
// The shape is always logical: a 4-D activation is [N, C, H, W] whatever its layout; the
// layout tag says how it lies in memory (nchw, or nhwc = channels last, as PyTorch's
// channels_last). Tensors are contiguous. Copying a Tensor shares its storage; clone() copies
// the data. view() makes a tensor over part of another's storage (flat parameter buffers).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/dtype.h"

namespace scaledl {

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);

enum class Layout : uint8_t { nchw, nhwc };
std::string_view layout_name(Layout l);

// Memory of one tensor (or of several views): host, page-locked host, or a CUDA device's.
class Storage {
 public:
  Storage(size_t bytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_;
  Device device_;
  bool pinned_;
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialized memory.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
                      Layout layout = Layout::nchw);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
                      Layout layout = Layout::nchw);
  // Host memory that a GPU copies from asynchronously (page-locked when a GPU is present).
  static Tensor pinned(const Shape& shape, DType dtype = DType::f32, Layout layout = Layout::nchw);
  // f32 tensor from values (row-major in the given layout's memory order).
  static Tensor from(const Shape& shape, const std::vector<float>& values,
                     Layout layout = Layout::nchw);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(i < 0 ? i + ndim() : i); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  Layout layout() const { return layout_; }

  void* raw() const { return static_cast<char*>(storage_->data()) + offset_; }
  template <class T> T* data() const { return static_cast<T*>(raw()); }
  // Element i of an f32 tensor in memory order (copied from the device for cuda tensors).
  float at(int64_t i) const;

  // Same storage, new shape with the same element count (layout kept; 4-D only keeps it).
  Tensor reshape(const Shape& shape) const;
  // Same storage, memory layout tag replaced (no data moves; the caller knows it is right).
  Tensor with_layout(Layout layout) const;
  // A tensor over `shape` elements of this one's storage starting at element `offset`.
  Tensor view(const Shape& shape, int64_t offset) const;
  Tensor clone() const;
  // A copy on `device` (same shape, dtype, layout); this tensor itself when already there.
  Tensor to(Device device) const;
  void zero();
  void fill(float v);  // f32 only
  // Same dtype and numel; memory order copied as is, between any devices.
  void copy_from(const Tensor& src);
  std::vector<float> to_vector() const;  // f32 only, memory order, from any device
  std::string str() const;  // "f32[2,3,4,4] nhwc cpu"

 private:
  static Tensor make(const Shape& shape, DType dtype, Device device, Layout layout, bool pinned);

  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::f32;
  Layout layout_ = Layout::nchw;
};

// Memory offset of logical element (n, c, h, w) of a 4-D tensor of shape [N,C,H,W].
inline int64_t offset4(Layout l, int64_t n, int64_t c, int64_t h, int64_t w, int64_t C, int64_t H,
                       int64_t W) {
  return l == Layout::nchw ? ((n * C + c) * H + h) * W + w : ((n * H + h) * W + w) * C + c;
}

// A copy of 4-D `x` laid out as `to` (plain loops; ops::reorder is the fast path).
Tensor to_layout(const Tensor& x, Layout to);

}  // namespace scaledl
