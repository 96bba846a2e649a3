// ImageSet: a labelled image collection held in memory (u8 pixels, N x H x W x C).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace scaledl {

struct ImageSet {
  Tensor images;                // u8 [N, H, W, C], row-major (channels last)
  std::vector<int32_t> labels;  // N labels in [0, classes)
  int classes = 0;
  std::vector<std::string> class_names;  // `classes` names, or empty

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

}  // namespace scaledl
