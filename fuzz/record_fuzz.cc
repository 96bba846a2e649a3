// libFuzzer target: the input is a whole record shard. scan_shard finds the frames, parse_frame
// verifies and decodes each, and decode_payload also sees the raw input as one payload. Only
// scaledl::Error (DataCorrupt included) is an expected outcome; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "data/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scaledl;
  Record r;
  try {
    std::vector<uint64_t> offsets;
    scan_shard(data, size, "fuzz.rec", offsets);
    for (size_t i = 0; i < offsets.size(); ++i)
      parse_frame(data, size, offsets[i], static_cast<int64_t>(i), "fuzz.rec", r);
  } catch (const Error&) {
  }
  // Frames at every offset a scan would not reach (the scan stops at the first bad one).
  for (uint64_t off = 0; off < size && off < 64; ++off) {
    try {
      parse_frame(data, size, off, 0, "fuzz.rec", r);
    } catch (const Error&) {
    }
  }
  try {
    decode_payload(data, size, r, "fuzz payload");
  } catch (const Error&) {
  }
  return 0;
}
