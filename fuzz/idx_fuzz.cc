// libFuzzer target: the input is an IDX file, parsed as images and as labels.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scaledl;
  try {
    parse_idx_images(data, size, "fuzz-images");
  } catch (const Error&) {
  }
  try {
    parse_idx_labels(data, size, "fuzz-labels", 10);
  } catch (const Error&) {
  }
  return 0;
}
