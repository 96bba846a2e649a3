// Tensor storage, views and plain copies.
#include "core/tensor.h"

#include <cstring>
#include <sstream>

#include "core/device_memory.h"
#include "core/error.h"

namespace scaledl {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(s[i]);
  }
  return out + "]";
}

std::string_view layout_name(Layout l) { return l == Layout::nchw ? "nchw" : "nhwc"; }

std::string Device::str() const {
  return kind == Kind::cpu ? "cpu" : "cuda:" + std::to_string(index);
}

std::string cuda_device_problem(Device device) {
  const int n = cuda_device_count();
  if (device.is_cpu() || (device.index >= 0 && device.index < n)) return "";
  if (n == 0) return cuda_unavailable_reason();
  return "this host has " + std::to_string(n) + " CUDA device(s); use cuda:0 to cuda:" +
         std::to_string(n - 1);
}

Device parse_device(std::string_view s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 &&
      s.find_first_not_of("0123456789", 5) == std::string_view::npos)
    return Device::cuda(std::stoi(std::string(s.substr(5))));
  throw Error("device", "unknown device '" + std::string(s) + "'; use cpu, cuda or cuda:N");
}

Storage::Storage(size_t bytes, Device device, bool pinned)
    : bytes_(bytes), device_(device), pinned_(pinned && device.is_cpu()) {
  if (!device.is_cpu())
    data_ = device_alloc(bytes, device);
  else if (pinned_)
    data_ = pinned_alloc(bytes);
  else
    data_ = aligned_alloc_bytes(bytes).release();
}

Storage::~Storage() {
  if (!device_.is_cpu())
    device_free(data_, device_);
  else if (pinned_)
    pinned_free(data_);
  else
    AlignedFree{}(data_);
}

Tensor Tensor::make(const Shape& shape, DType dtype, Device device, Layout layout, bool pinned) {
  for (int64_t d : shape)
    if (d < 0) throw Error("tensor", "negative dimension in shape " + shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.layout_ = shape.size() == 4 ? layout : Layout::nchw;
  t.storage_ = std::make_shared<Storage>(t.nbytes(), device, pinned);
  return t;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, Layout layout) {
  return make(shape, dtype, device, layout, false);
}

Tensor Tensor::pinned(const Shape& shape, DType dtype, Layout layout) {
  return make(shape, dtype, Device::cpu(), layout, true);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device, Layout layout) {
  Tensor t = empty(shape, dtype, device, layout);
  t.zero();
  return t;
}

Tensor Tensor::from(const Shape& shape, const std::vector<float>& values, Layout layout) {
  Tensor t = empty(shape, DType::f32, Device::cpu(), layout);
  SDL_ASSERT(static_cast<int64_t>(values.size()) == t.numel(), "value count != shape numel");
  std::memcpy(t.raw(), values.data(), t.nbytes());
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  SDL_ASSERT(shape_numel(shape) == numel(), "reshape must keep the element count");
  Tensor t = *this;
  t.shape_ = shape;
  if (shape.size() != 4) t.layout_ = Layout::nchw;
  return t;
}

Tensor Tensor::with_layout(Layout layout) const {
  Tensor t = *this;
  t.layout_ = layout;
  return t;
}

Tensor Tensor::view(const Shape& shape, int64_t offset) const {
  size_t begin = offset_ + static_cast<size_t>(offset) * dtype_size(dtype_);
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype_);
  SDL_ASSERT(begin + bytes <= storage_->bytes(), "view outside its storage");
  Tensor t = *this;
  t.offset_ = begin;
  t.shape_ = shape;
  t.layout_ = Layout::nchw;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device(), layout_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor t = empty(shape_, dtype_, d, layout_);
  t.copy_from(*this);
  return t;
}

float Tensor::at(int64_t i) const {
  SDL_ASSERT(dtype_ == DType::f32 && i >= 0 && i < numel(), "at() needs an f32 element in range");
  if (device().is_cpu()) return data<float>()[i];
  float v = 0;
  device_copy(&v, Device::cpu(), data<float>() + i, device(), sizeof v);
  return v;
}

void Tensor::zero() {
  if (device().is_cpu())
    std::memset(raw(), 0, nbytes());
  else
    device_memset_zero(raw(), device(), nbytes());
}

void Tensor::fill(float v) {
  SDL_ASSERT(dtype_ == DType::f32, "fill needs an f32 tensor");
  if (!device().is_cpu()) {
    copy_from(Tensor::from(shape_, std::vector<float>(static_cast<size_t>(numel()), v)));
    return;
  }
  float* p = data<float>();
  for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = v;
}

void Tensor::copy_from(const Tensor& src) {
  SDL_ASSERT(src.dtype() == dtype_ && src.numel() == numel(), "copy_from needs equal dtype/numel");
  if (device().is_cpu() && src.device().is_cpu())
    std::memcpy(raw(), src.raw(), nbytes());
  else
    device_copy(raw(), device(), src.raw(), src.device(), nbytes());
}

std::vector<float> Tensor::to_vector() const {
  SDL_ASSERT(dtype_ == DType::f32, "to_vector needs an f32 tensor");
  std::vector<float> out(static_cast<size_t>(numel()));
  if (device().is_cpu())
    std::memcpy(out.data(), raw(), nbytes());
  else
    device_copy(out.data(), Device::cpu(), raw(), device(), nbytes());
  return out;
}

std::string Tensor::str() const {
  std::ostringstream os;
  os << dtype_name(dtype_) << shape_str(shape_);
  if (ndim() == 4) os << ' ' << layout_name(layout_);
  os << ' ' << device().str();
  return os.str();
}

Tensor to_layout(const Tensor& x, Layout to) {
  SDL_ASSERT(x.ndim() == 4 && x.dtype() == DType::f32, "to_layout needs a 4-D f32 tensor");
  if (x.layout() == to) return x.clone();
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device(), to);
  const float* s = x.data<float>();
  float* d = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          d[offset4(to, n, c, h, w, C, H, W)] = s[offset4(x.layout(), n, c, h, w, C, H, W)];
  return y;
}

}  // namespace scaledl
