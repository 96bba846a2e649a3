// ImageSet as a SampleSource: each read copies one image's pixels into the record.
#include "data/memory_source.h"

#include <cstdio>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace scaledl {

namespace {

class MemorySource final : public SampleSource {
 public:
  MemorySource(ImageSet set, std::string prefix, std::string name)
      : set_(std::move(set)), prefix_(std::move(prefix)), name_(std::move(name)) {
    const Tensor& im = set_.images;
    if (!im.defined() || im.dtype() != DType::u8 || im.ndim() != 4 || im.dim(0) != set_.size())
      throw Error("data", name_ + ": want u8 [N, H, W, C] images with one label each");
    h_ = static_cast<int32_t>(im.dim(1));
    w_ = static_cast<int32_t>(im.dim(2));
    c_ = static_cast<int32_t>(im.dim(3));
    if (set_.class_names.empty())
      for (int k = 0; k < set_.classes; ++k) set_.class_names.push_back(std::to_string(k));
  }
  int64_t size() const override { return set_.size(); }
  int classes() const override { return set_.classes; }
  const std::vector<std::string>& class_names() const override { return set_.class_names; }
  std::string key(int64_t i) const override {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06lld", static_cast<long long>(i));
    return prefix_ + "/" + buf;
  }
  int32_t label(int64_t i) const override { return set_.labels[static_cast<size_t>(i)]; }
  uint64_t stored_bytes(int64_t) const override { return pixels(); }
  uint64_t read(int64_t i, Record& out, std::vector<uint8_t>&) const override {
    out.key = key(i);
    out.labels.assign(1, label(i));
    out.encoding = ImageEncoding::raw_u8;
    out.height = h_, out.width = w_, out.channels = c_;
    out.image.resize(pixels());
    std::memcpy(out.image.data(), set_.images.data<uint8_t>() + i * static_cast<int64_t>(pixels()),
                pixels());
    return pixels();
  }
  std::string describe() const override {
    return name_ + " (" + std::to_string(size()) + " samples)";
  }

 private:
  size_t pixels() const { return static_cast<size_t>(h_) * w_ * c_; }
  ImageSet set_;
  std::string prefix_, name_;
  int32_t h_ = 0, w_ = 0, c_ = 0;
};

}  // namespace

SourcePtr memory_source(ImageSet set, std::string prefix, std::string name) {
  return std::make_shared<MemorySource>(std::move(set), std::move(prefix), std::move(name));
}

}  // namespace scaledl
