// NpySource: samples are slices of the memory-mapped array; labels are read once, at open.
#include "data/npy_source.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "core/error.h"
#include "io/npy.h"

namespace scaledl {

namespace {

constexpr int64_t kMaxClasses = int64_t{1} << 20;

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class NpySource final : public SampleSource {
 public:
  explicit NpySource(const std::string& path) : path_(path), file_(path) {
    const std::vector<int64_t>& s = file_.shape();
    const std::string dt(npy_descr(file_.dtype()));
    if (file_.dtype() != NpyDType::f32 && file_.dtype() != NpyDType::f64)
      throw Error("data", "npy:" + path + " holds " + dt + " " + shape_str(s) +
                              "; an npy source holds float32 model inputs [N, C, H, W]: save "
                              "a.astype('<f4')");
    if (s.size() != 4 || s[2] < 1 || s[3] < 1)
      throw Error("data", "npy:" + path + " has shape " + shape_str(s) +
                              "; an npy source holds samples [N, C, H, W] (NCHW, C of 1 or 3)");
    if (s[1] != 1 && s[1] != 3)
      throw Error("data", "npy:" + path + " has shape " + shape_str(s) + ": " +
                              std::to_string(s[1]) +
                              " channels; want [N, C, H, W] with C = 1 or 3 (NCHW; transpose an "
                              "NHWC array with a.transpose(0, 3, 1, 2))");
    n_ = s[0];
    c_ = static_cast<int32_t>(s[1]);
    h_ = static_cast<int32_t>(s[2]);
    w_ = static_cast<int32_t>(s[3]);
    values_ = static_cast<int64_t>(c_) * h_ * w_;
    stem_ = std::filesystem::path(path).stem().string();
    load_labels(npy_labels_path(path));
    for (int64_t k = 0; k < classes_; ++k) class_names_.push_back(std::to_string(k));
  }

  int64_t size() const override { return n_; }
  int classes() const override { return static_cast<int>(classes_); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  std::string key(int64_t i) const override {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06lld", static_cast<long long>(i));
    return stem_ + "/" + buf;
  }
  int32_t label(int64_t i) const override {
    return labels_.empty() ? 0 : labels_[static_cast<size_t>(i)];
  }
  bool labeled() const override { return !labels_file_.empty(); }
  uint64_t stored_bytes(int64_t) const override { return sample_bytes(); }

  uint64_t read(int64_t i, Record& out, std::vector<uint8_t>&) const override {
    out.key = key(i);
    out.labels.assign(1, label(i));
    out.encoding = ImageEncoding::raw_f32;
    out.channels = c_, out.height = h_, out.width = w_;
    out.image.resize(static_cast<size_t>(values_) * sizeof(float));
    if (file_.dtype() == NpyDType::f32) {
      std::memcpy(out.image.data(), file_.data() + i * sample_bytes(), out.image.size());
    } else {
      std::vector<float> v(static_cast<size_t>(values_));
      file_.read_f32(i * values_, values_, v.data());
      std::memcpy(out.image.data(), v.data(), out.image.size());
    }
    return sample_bytes();
  }

  std::string describe() const override {
    return "npy:" + path_ + " (" + std::to_string(n_) + " samples of " + std::to_string(c_) + "x" +
           std::to_string(h_) + "x" + std::to_string(w_) + " " +
           std::string(npy_descr(file_.dtype())) +
           (labels_file_.empty() ? ", unlabeled)" : ", labels " + labels_file_ + ")");
  }
  std::string where(int64_t i) const override {
    return "npy:" + path_ + " sample " + std::to_string(i) + " at byte offset " +
           std::to_string(file_.header().data_offset + i * sample_bytes());
  }

 private:
  uint64_t sample_bytes() const {
    return static_cast<uint64_t>(values_) * npy_itemsize(file_.dtype());
  }

  void load_labels(const std::string& lp) {
    std::error_code ec;
    if (!std::filesystem::exists(lp, ec)) return;
    const NpyFile lf(lp);
    if (lf.shape().size() != 1 || lf.shape()[0] != n_)
      throw Error("data", lp + " has shape " + shape_str(lf.shape()) + " but npy:" + path_ +
                              " holds " + std::to_string(n_) +
                              " samples; want one integer label per sample, shape [" +
                              std::to_string(n_) + "]");
    const std::vector<int64_t> v = lf.to_i64();
    labels_.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || v[i] >= kMaxClasses)
        throw Error("data", lp + ": label " + std::to_string(v[i]) + " of sample " +
                                std::to_string(i) + " is not a class index (0 to " +
                                std::to_string(kMaxClasses - 1) + "); fix the labels");
      labels_.push_back(static_cast<int32_t>(v[i]));
      classes_ = std::max<int64_t>(classes_, v[i] + 1);
    }
    labels_file_ = lp;
  }

  std::string path_, stem_, labels_file_;
  NpyFile file_;
  int64_t n_ = 0, values_ = 0, classes_ = 1;
  int32_t c_ = 0, h_ = 0, w_ = 0;
  std::vector<int32_t> labels_;
  std::vector<std::string> class_names_;
};

}  // namespace

std::string npy_labels_path(const std::string& path) {
  const std::string ext = ".npy";
  if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
    return path.substr(0, path.size() - ext.size()) + ".labels.npy";
  return path + ".labels.npy";
}

SourcePtr npy_source(const std::string& path) {
  return std::make_shared<NpySource>(path);
}

}  // namespace scaledl
