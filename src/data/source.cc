// --data spec parsing and loading.
#include "data/source.h"

#include <string>

#include "core/error.h"
#include "data/idx.h"
#include "data/synthetic.h"

namespace scaledl {

DataSpec parse_data_spec(const std::string& s) {
  DataSpec d;
  if (s.rfind("idx:", 0) == 0 && s.size() > 4) {
    d.kind = "idx";
    d.path = s.substr(4);
    return d;
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
        throw Error("data", "--data '" + s + "': synthetic:N needs a positive sample count N");
      }
    }
    d.synthetic_test = std::max<int64_t>(1, d.synthetic_train / 4);
    return d;
  }
  throw Error("data", "--data '" + s +
                          "' is not a known source; use idx:DIR (Fashion-MNIST IDX "
                          "files, default idx:" +
                          std::string(kFashionMnistDir) + ") or synthetic[:N]");
}

Datasets load_datasets(const DataSpec& spec, int64_t image_size, int in_channels, int classes,
                       uint64_t seed) {
  Datasets d;
  if (spec.kind == "idx") {
    d.train = load_idx(spec.path, true);
    d.test = load_idx(spec.path, false);
    return d;
  }
  int c = in_channels > 0 ? in_channels : 3;
  int k = classes > 0 ? classes : 10;
  // One draw split in two, so both splits share the class patterns.
  int64_t n = spec.synthetic_train + spec.synthetic_test, hw = image_size;
  ImageSet all = make_synthetic(n, c, static_cast<int>(hw), static_cast<int>(hw), k, seed);
  int64_t per = hw * hw * c;
  for (ImageSet* part : {&d.train, &d.test}) {
    bool train = part == &d.train;
    int64_t begin = train ? 0 : spec.synthetic_train;
    int64_t count = train ? spec.synthetic_train : spec.synthetic_test;
    part->images = all.images.view({count, hw, hw, c}, begin * per);
    part->labels.assign(all.labels.begin() + begin, all.labels.begin() + begin + count);
    part->classes = all.classes;
    part->class_names = all.class_names;
  }
  return d;
}

}  // namespace scaledl
