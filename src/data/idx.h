// IDX files (the MNIST / Fashion-MNIST format): gzip or plain, validated, into an ImageSet.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/image_set.h"

namespace scaledl {

// Loads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; labels must be < `classes`.
// Fashion-MNIST class names are attached when classes == 10.
ImageSet load_idx(const std::string& dir, bool train, int classes = 10);

// Parses an in-memory IDX image file (magic 0x803, dims N, H, W) into u8 [N, H, W, 1].
// `name` labels error messages (a file path).
Tensor parse_idx_images(const uint8_t* data, size_t size, const std::string& name);
// Parses an in-memory IDX label file (magic 0x801, dim N); every label must be < `classes`.
std::vector<int32_t> parse_idx_labels(const uint8_t* data, size_t size, const std::string& name,
                                      int classes);

}  // namespace scaledl
