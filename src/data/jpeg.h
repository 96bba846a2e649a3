// JPEG decoding with libjpeg-turbo (libjpeg API): header-only probing, and decoding of a region
// of interest at a reduced DCT scale, so a random crop costs only the pixels it keeps.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace scaledl {

struct JpegInfo {
  int width = 0, height = 0, channels = 0;  // channels: 1 (grayscale) or 3 (anything else)
};

// A rectangle in pixels: columns [x, x + w), rows [y, y + h).
struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
};

// A decoded image: u8, height x width x channels, row-major.
struct DecodedImage {
  std::vector<uint8_t> pixels;
  int width = 0, height = 0, channels = 0;
};

// Reads the header only. Throws DataCorrupt("<where>: not a decodable JPEG (<libjpeg's
// message>)") on anything libjpeg rejects. `where` names the sample (file, or shard + record +
// offset).
JpegInfo jpeg_info(const uint8_t* data, size_t n, const std::string& where);

// Decodes `roi` of the full-size image (the whole image when roi is null), scaled by
// scale_num / 8 (scale_num in 1..8; libjpeg-turbo scales in the DCT, so 4 decodes a quarter of
// the pixels at about a quarter of the cost). Rows outside the region are skipped
// (jpeg_skip_scanlines) and columns cropped (jpeg_crop_scanline); the result holds exactly the
// scaled region: out.width = ceil((roi.x + roi.w) * s / 8) - floor(roi.x * s / 8), likewise for
// height, and out.channels = `channels` (1 or 3; 3 converts grayscale to RGB, 1 converts colour
// to grayscale; CMYK and YCCK files are decoded as inks and converted). Throws DataCorrupt naming
// `where` on corrupt data, including data libjpeg only warns about (a truncated file), and on
// images over 2^28 pixels.
// Coordinates: a full-size column x maps to the continuous scaled column x * s / 8, so out's
// column 0 is scaled column floor(roi.x * s / 8) and the roi itself spans
// [roi.x * s / 8 - floor(roi.x * s / 8), that + roi.w * s / 8) of out (a resize that wants the
// exact crop samples that window). At s = 8 the result is pixel-identical to the same rect of a
// full decode. Rows below the region are not decoded at all, so damage there goes unnoticed.
// A roi outside the image throws Error (a caller's bug, not corrupt data).
void decode_jpeg(const uint8_t* data, size_t n, const Rect* roi, int scale_num, int channels,
                 DecodedImage& out, const std::string& where);

// Encodes u8 HWC pixels (channels 1, 3, or 4 = CMYK stored as given, with an Adobe marker, so
// readers take the values as Photoshop's inverted inks) as a baseline JPEG at `quality` (tests,
// benchmarks).
std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int width, int height, int channels,
                                 int quality);

}  // namespace scaledl
