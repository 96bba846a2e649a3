// --data spec parsing and opening.
#include "data/source.h"

#include <filesystem>
#include <string>

#include "core/error.h"
#include "data/file_source.h"
#include "data/idx.h"
#include "data/memory_source.h"
#include "data/npy_source.h"
#include "data/record_set.h"
#include "data/synthetic.h"

namespace scaledl {

namespace fs = std::filesystem;

namespace {
constexpr const char* kKinds[] = {"records", "folder", "csv", "idx", "npy"};
}

std::string DataSpec::str() const {
  if (kind == "synthetic") return "synthetic:" + std::to_string(synthetic_train);
  return kind + ":" + path;
}

DataSpec parse_data_spec(const std::string& s, const std::string& flag) {
  DataSpec d;
  for (const char* k : kKinds) {
    const std::string prefix = std::string(k) + ":";
    if (s.rfind(prefix, 0) == 0 && s.size() > prefix.size()) {
      d.kind = k;
      d.path = s.substr(prefix.size());
      return d;
    }
  }
  if (s == "synthetic" || s.rfind("synthetic:", 0) == 0) {
    d.kind = "synthetic";
    d.synthetic_train = 1024;
    if (s.size() > 10) {
      try {
        size_t used = 0;
        d.synthetic_train = std::stoll(s.substr(10), &used);
        if (used != s.size() - 10 || d.synthetic_train <= 0) throw std::invalid_argument(s);
      } catch (const std::exception&) {
        throw Error("data", flag + " '" + s + "': synthetic:N needs a positive sample count N");
      }
    }
    d.synthetic_test = std::max<int64_t>(1, d.synthetic_train / 4);
    return d;
  }
  throw Error("data", flag + " '" + s +
                          "' is not a known source; use records:DIR (made by scaledl data pack), "
                          "folder:DIR (DIR/<class>/<image>.jpg), csv:FILE (path,label lines), "
                          "idx:DIR (Fashion-MNIST IDX files, default idx:" +
                          std::string(kFashionMnistDir) +
                          "), npy:FILE (float32 [N, C, H, W] model inputs) or synthetic[:N]");
}

namespace {

// DIR/train plus DIR/val or DIR/test when DIR/train exists; else DIR alone.
std::string split_dir(const std::string& dir, const std::string& split) {
  std::error_code ec;
  if (!fs::is_directory(fs::path(dir) / "train", ec)) return split == "train" ? dir : "";
  if (split == "train") return (fs::path(dir) / "train").string();
  for (const char* name : {"val", "test"})
    if (fs::is_directory(fs::path(dir) / name, ec)) return (fs::path(dir) / name).string();
  return "";
}

// One draw split in two, so both splits share the class patterns.
DataSplits synthetic_splits(const DataSpec& spec, int64_t image_size, uint64_t seed) {
  const int64_t n = spec.synthetic_train + spec.synthetic_test, hw = image_size;
  const ImageSet all = make_synthetic(n, 3, static_cast<int>(hw), static_cast<int>(hw), 10, seed);
  const int64_t per = hw * hw * 3;
  auto part = [&](const std::string& split, int64_t begin, int64_t count) {
    ImageSet s;
    s.images = all.images.view({count, hw, hw, 3}, begin * per);
    s.labels.assign(all.labels.begin() + begin, all.labels.begin() + begin + count);
    s.classes = all.classes;
    s.class_names = all.class_names;
    return memory_source(std::move(s), split, spec.str() + " " + split);
  };
  return {part("train", 0, spec.synthetic_train),
          part("test", spec.synthetic_train, spec.synthetic_test)};
}

// The npy source, refused when unlabeled: `use` says what needs the labels.
SourcePtr labeled_npy(const DataSpec& spec, const std::string& use) {
  SourcePtr src = npy_source(spec.path);
  if (!src->labeled())
    throw Error("data", spec.str() + " has no labels (no " + npy_labels_path(spec.path) + ") and " +
                            use + " needs them; save integer labels [N] there");
  return src;
}

}  // namespace

SourcePtr open_split(const DataSpec& spec, const std::string& split, int64_t image_size,
                     uint64_t seed) {
  if (split != "train" && split != "test")
    throw Error("data", "split '" + split + "' is not train or test");
  if (spec.kind == "synthetic") {
    DataSplits d = synthetic_splits(spec, image_size, seed);
    return split == "train" ? d.train : d.test;
  }
  if (spec.kind == "idx")
    return memory_source(load_idx(spec.path, split == "train"), split,
                         "idx:" + spec.path + " " + split);
  if (spec.kind == "npy") return npy_source(spec.path);  // one set: both splits, labels or not
  if (spec.kind == "csv") {
    if (split != "train")
      throw Error("data", "csv:" + spec.path + " is one list (a training split); give a test "
                                               "set with --eval-data or pass --no-eval");
    return csv_source(spec.path);
  }
  const std::string dir = split_dir(spec.path, split);
  if (dir.empty())
    throw Error("data", spec.str() + " has no " + split +
                            " split (no DIR/train with DIR/val or DIR/test beside it); give one "
                            "with --eval-data or pass --no-eval");
  return spec.kind == "records" ? open_records(dir) : folder_source(dir);
}

SourcePtr open_eval_source(const DataSpec& spec, int64_t image_size, uint64_t seed) {
  if (spec.kind == "csv") return csv_source(spec.path);
  if (spec.kind == "npy") return labeled_npy(spec, "evaluation");
  if (spec.kind == "records" || spec.kind == "folder") {
    std::error_code ec;
    if (!fs::is_directory(fs::path(spec.path) / "train", ec))
      return spec.kind == "records" ? open_records(spec.path) : folder_source(spec.path);
  }
  return open_split(spec, "test", image_size, seed);
}

DataSplits open_data(const DataSpec& spec, int64_t image_size, uint64_t seed) {
  if (spec.kind == "synthetic") return synthetic_splits(spec, image_size, seed);  // one draw
  DataSplits d;
  if (spec.kind == "npy") {
    d.train = labeled_npy(spec, "training");
    return d;
  }
  d.train = open_split(spec, "train", image_size, seed);
  const bool has_test =
      spec.kind == "idx" ||
      ((spec.kind == "records" || spec.kind == "folder") && !split_dir(spec.path, "test").empty());
  if (has_test) d.test = open_split(spec, "test", image_size, seed);
  return d;
}

}  // namespace scaledl
