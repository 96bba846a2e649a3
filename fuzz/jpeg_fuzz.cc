// libFuzzer target: the input is a JPEG file (as stored in a shard or an image folder), probed
// and decoded whole, as a region, and at a reduced DCT scale, to RGB and to grey.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "data/jpeg.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scaledl;
  JpegInfo info;
  try {
    info = jpeg_info(data, size, "fuzz.jpg");
  } catch (const Error&) {
    return 0;
  }
  DecodedImage out;
  const Rect roi{info.width / 3, info.height / 4, info.width / 2 + 1, info.height / 2 + 1};
  const bool roi_fits = roi.x + roi.w <= info.width && roi.y + roi.h <= info.height;
  for (int scale : {8, 4, 1}) {
    try {
      decode_jpeg(data, size, nullptr, scale, scale == 4 ? 1 : 3, out, "fuzz.jpg");
    } catch (const Error&) {
    }
    if (!roi_fits) continue;
    try {
      decode_jpeg(data, size, &roi, scale, 3, out, "fuzz.jpg");
    } catch (const Error&) {
    }
  }
  return 0;
}
