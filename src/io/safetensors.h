// The safetensors checkpoint format: an 8-byte little-endian header length N, N bytes of JSON
// header (padded with spaces to a multiple of 8) mapping each tensor name to its dtype, shape
// and data_offsets (relative to the data start), an optional "__metadata__" string map, then the
// tensor data. 4-D tensors are stored in logical NCHW order, as PyTorch expects.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace scaledl {

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in header order
  std::map<std::string, std::string> metadata;
  // The tensor called `name`, or nullptr.
  const Tensor* find(const std::string& name) const;
};

// Writes the tensors (data in the given order) atomically to `path`.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata);
// Reads and validates a safetensors file; errors are Error("checkpoint", ...).
SafetensorsFile load_safetensors(const std::string& path);
// Parses a safetensors file held in memory; `name` labels error messages.
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name);

}  // namespace scaledl
