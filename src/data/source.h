// Data source specs (--data idx:DIR | synthetic[:N]) resolved into train and test image sets.
#pragma once
#include <string>

#include "data/image_set.h"

namespace scaledl {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct DataSpec {
  std::string kind;  // "idx" or "synthetic"
  std::string path;  // idx: the folder
  int64_t synthetic_train = 0, synthetic_test = 0;
};

// Parses a --data value; throws Error naming the flag on anything else.
DataSpec parse_data_spec(const std::string& s);

struct Datasets {
  ImageSet train, test;
};

// Loads both splits. Synthetic sets are [image_size x image_size x 3] with 10 classes, unless
// in_channels/classes are given (> 0).
Datasets load_datasets(const DataSpec& spec, int64_t image_size, int in_channels, int classes,
                       uint64_t seed);

}  // namespace scaledl
