// JPEG probing, ROI / DCT-scaled decoding and encoding through the libjpeg API of libjpeg-turbo.
//
// libjpeg reports errors through error_exit, which must not return. Throwing a C++ exception
// through libjpeg's C frames is undefined, so error_exit longjmps back to a setjmp taken in a
// small function that holds only trivially destructible locals (the "*_core" functions below);
// the C++ caller then destroys the codec through an RAII guard and throws. Corrupt-data warnings
// (emit_message at level -1: premature end of data, bad Huffman code, ...) take the same path, so
// a truncated or damaged image is refused instead of decoding to grey.
#include "data/jpeg.h"

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE
#include <cstdlib>
#include <cstring>
#include <string>

#include <jpeglib.h>

#include "core/error.h"
#include "data/corrupt.h"

namespace scaledl {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;  // first member: libjpeg sees an ErrorMgr* as a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Level -1 is a corrupt-data warning: treat it as an error. Other levels are trace messages.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

void init_errors(ErrorMgr& err) {
  jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.message[0] = '\0';
}

struct Decompressor {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  Decompressor() {
    std::memset(&cinfo, 0, sizeof cinfo);
    init_errors(err);
    cinfo.err = &err.pub;
    jpeg_create_decompress(&cinfo);  // cannot fail short of a library/struct size mismatch
    // libjpeg's own buffers (a progressive image's whole coefficient array) stay under 1 GiB:
    // past it, with no backing store, the decode fails as "insufficient memory".
    cinfo.mem->max_memory_to_use = 1L << 30;
  }
  ~Decompressor() { jpeg_destroy_decompress(&cinfo); }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
};

[[noreturn]] void throw_corrupt(const std::string& where, const char* message) {
  throw DataCorrupt(where + ": not a decodable JPEG (" + message +
                    "); replace the image, or pass --skip-corrupt N to skip bad samples");
}

// Returns false (message in the error manager) when libjpeg rejects the header.
bool info_core(jpeg_decompress_struct* cinfo, ErrorMgr* err, const uint8_t* data, size_t n) {
  if (setjmp(err->jump)) return false;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(n));
  jpeg_read_header(cinfo, TRUE);
  return true;
}

enum class DecodeStatus { ok, corrupt, bad_roi, too_large };

// CMYK pixels (4 bytes each) to RGB or grey in place. Adobe's files (Photoshop: nearly all CMYK
// JPEGs) store inverted inks, so a stored value is the paper left uncovered: R = C' * K' / 255.
void cmyk_to(std::vector<uint8_t>& px, long pixels, int channels, bool adobe_inverted) {
  uint8_t* p = px.data();
  for (long i = 0; i < pixels; ++i) {
    int c = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
    if (!adobe_inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
    const int r = (c * k + 127) / 255, g = (m * k + 127) / 255, b = (y * k + 127) / 255;
    if (channels == 3) {
      p[3 * i] = static_cast<uint8_t>(r);
      p[3 * i + 1] = static_cast<uint8_t>(g);
      p[3 * i + 2] = static_cast<uint8_t>(b);
    } else {  // ITU-R BT.601 luma, as libjpeg's own RGB -> grey
      p[i] = static_cast<uint8_t>((299 * r + 587 * g + 114 * b + 500) / 1000);
    }
  }
  px.resize(static_cast<size_t>(pixels * channels));
}

struct DecodeArgs {
  const uint8_t* data;
  size_t n;
  const Rect* roi;
  int scale_num, channels;
};

// Decodes into out->pixels. Only trivially destructible locals live here (see the file comment);
// `out` belongs to the caller, so the vector survives a longjmp intact.
DecodeStatus decode_core(jpeg_decompress_struct* cinfo, ErrorMgr* err, const DecodeArgs* a,
                         DecodedImage* out) {
  if (setjmp(err->jump)) return DecodeStatus::corrupt;
  jpeg_mem_src(cinfo, a->data, static_cast<unsigned long>(a->n));
  jpeg_read_header(cinfo, TRUE);
  const long W = static_cast<long>(cinfo->image_width), H = static_cast<long>(cinfo->image_height);
  long x = 0, y = 0, w = W, h = H;
  if (a->roi) {
    x = a->roi->x, y = a->roi->y, w = a->roi->w, h = a->roi->h;
    if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > W || y + h > H) return DecodeStatus::bad_roi;
  }
  // A corrupt header can claim 65500 x 65500 pixels; refuse before libjpeg allocates for it.
  if (W * H > (1L << 28)) return DecodeStatus::too_large;
  // libjpeg-turbo cannot convert CMYK/YCCK to RGB (ImageNet holds a few such files): decode the
  // four inks and convert below.
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : a->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  cinfo->scale_num = static_cast<unsigned>(a->scale_num);
  cinfo->scale_denom = 8;
  const long s = a->scale_num;
  // The region in scaled pixels (the contract's formula): every scaled pixel that overlaps it.
  const long x0 = x * s / 8, x1 = ((x + w) * s + 7) / 8;
  const long y0 = y * s / 8, y1 = ((y + h) * s + 7) / 8;
  const long C = cmyk ? 4 : a->channels;  // channels as decoded
  if ((x1 - x0) * (y1 - y0) * C > (1L << 30)) return DecodeStatus::too_large;
  jpeg_start_decompress(cinfo);
  // libjpeg's scaled size is ceil(W * s / 8), so [x0, x1) lies inside it.
  // Fancy (smooth) chroma upsampling replicates the edge chroma sample at the edges of a cropped
  // scanline, so the outermost cropped columns differ from a full decode unless they are image
  // edges. Ask for one column more on each side and trim it off with the iMCU widening below.
  const long ow = static_cast<long>(cinfo->output_width);
  const long cx0 = x0 > 0 ? x0 - 1 : 0, cx1 = x1 < ow ? x1 + 1 : ow;
  JDIMENSION xoff = static_cast<JDIMENSION>(cx0), cw = static_cast<JDIMENSION>(cx1 - cx0);
  if (cx0 > 0 || cx1 < ow) jpeg_crop_scanline(cinfo, &xoff, &cw);
  // jpeg_crop_scanline widens the columns to an iMCU boundary: decode at that stride, then trim.
  const long stride = static_cast<long>(cinfo->output_width) * C;
  const long trim = (x0 - static_cast<long>(xoff)) * C, keep = (x1 - x0) * C;
  out->pixels.resize(static_cast<size_t>(stride * (y1 - y0)));
  if (y0 > 0) jpeg_skip_scanlines(cinfo, static_cast<JDIMENSION>(y0));
  uint8_t* base = out->pixels.data();
  while (static_cast<long>(cinfo->output_scanline) < y1) {
    JSAMPROW rows[16];
    const long r = static_cast<long>(cinfo->output_scanline) - y0;
    long want = y1 - static_cast<long>(cinfo->output_scanline);
    if (want > 16) want = 16;
    for (long i = 0; i < want; ++i) rows[i] = base + (r + i) * stride;
    jpeg_read_scanlines(cinfo, rows, static_cast<JDIMENSION>(want));
  }
  // Rows below the region are never decoded; finish (which checks the trailer) only when the
  // whole image was read.
  if (cinfo->output_scanline < cinfo->output_height)
    jpeg_abort_decompress(cinfo);
  else
    jpeg_finish_decompress(cinfo);
  if (trim != 0 || keep != stride) {  // compact in place: each row moves down, never over itself
    for (long r = 0; r < y1 - y0; ++r)
      std::memmove(base + r * keep, base + r * stride + trim, keep);
    out->pixels.resize(static_cast<size_t>(keep * (y1 - y0)));
  }
  if (cmyk) cmyk_to(out->pixels, (x1 - x0) * (y1 - y0), a->channels, cinfo->saw_Adobe_marker);
  out->width = static_cast<int>(x1 - x0);
  out->height = static_cast<int>(y1 - y0);
  out->channels = a->channels;
  return DecodeStatus::ok;
}

struct EncodeArgs {
  const uint8_t* pixels;
  int width, height, channels, quality;
};

bool encode_core(jpeg_compress_struct* cinfo, ErrorMgr* err, const EncodeArgs* a,
                 unsigned char** buf, unsigned long* size) {
  if (setjmp(err->jump)) return false;
  jpeg_create_compress(cinfo);
  jpeg_mem_dest(cinfo, buf, size);
  cinfo->image_width = static_cast<JDIMENSION>(a->width);
  cinfo->image_height = static_cast<JDIMENSION>(a->height);
  cinfo->input_components = a->channels;
  cinfo->in_color_space = a->channels == 4 ? JCS_CMYK : a->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, a->quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  const size_t stride = static_cast<size_t>(a->width) * static_cast<size_t>(a->channels);
  while (cinfo->next_scanline < cinfo->image_height) {
    // libjpeg's API takes non-const rows but only reads them.
    JSAMPROW row = const_cast<JSAMPROW>(a->pixels + cinfo->next_scanline * stride);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

}  // namespace

JpegInfo jpeg_info(const uint8_t* data, size_t n, const std::string& where) {
  Decompressor d;
  if (!info_core(&d.cinfo, &d.err, data, n)) throw_corrupt(where, d.err.message);
  JpegInfo info;
  info.width = static_cast<int>(d.cinfo.image_width);
  info.height = static_cast<int>(d.cinfo.image_height);
  info.channels = d.cinfo.num_components == 1 ? 1 : 3;
  return info;
}

void decode_jpeg(const uint8_t* data, size_t n, const Rect* roi, int scale_num, int channels,
                 DecodedImage& out, const std::string& where) {
  SDL_ASSERT(scale_num >= 1 && scale_num <= 8, "decode_jpeg: scale_num must be in 1..8");
  SDL_ASSERT(channels == 1 || channels == 3, "decode_jpeg: channels must be 1 or 3");
  Decompressor d;
  const DecodeArgs args{data, n, roi, scale_num, channels};
  switch (decode_core(&d.cinfo, &d.err, &args, &out)) {
    case DecodeStatus::ok:
      return;
    case DecodeStatus::corrupt:
      throw_corrupt(where, d.err.message);
    case DecodeStatus::too_large:
      throw_corrupt(where, "the decoded region would exceed 1 GiB");
    case DecodeStatus::bad_roi:
      break;
  }
  throw Error("data", where + ": region " + std::to_string(roi->w) + "x" + std::to_string(roi->h) +
                          " at (" + std::to_string(roi->x) + ", " + std::to_string(roi->y) +
                          ") lies outside the " + std::to_string(d.cinfo.image_width) + "x" +
                          std::to_string(d.cinfo.image_height) + " image");
}

std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int width, int height, int channels,
                                 int quality) {
  SDL_ASSERT(width > 0 && height > 0 && (channels == 1 || channels == 3 || channels == 4),
             "encode_jpeg: bad image shape");
  jpeg_compress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  ErrorMgr err;
  init_errors(err);
  cinfo.err = &err.pub;
  unsigned char* buf = nullptr;  // malloc'ed by jpeg_mem_dest
  unsigned long size = 0;
  const EncodeArgs args{pixels, width, height, channels, quality};
  const bool ok = encode_core(&cinfo, &err, &args, &buf, &size);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> out;
  if (ok) out.assign(buf, buf + size);
  std::free(buf);
  if (!ok) throw Error("data", std::string("JPEG encoding failed (") + err.message + ")");
  return out;
}

}  // namespace scaledl
