// Record payloads and frames: encoding, and parsing that trusts no length field. Every length read
// from a file is checked against the bytes actually there before it is used, so a hostile or
// damaged shard gives DataCorrupt, never an out-of-bounds read or an absurd allocation.
#include "data/record.h"

#include <cstdio>
#include <limits>

#include "core/crc32c.h"
#include "core/error.h"
#include "data/corrupt.h"
#include "data/record_internal.h"

namespace scaledl {

using namespace record_detail;

namespace record_detail {

std::string record_where(const std::string& name, int64_t record, uint64_t offset) {
  return name + ": record " + std::to_string(record) + " at byte offset " + std::to_string(offset);
}

std::string newer_version_message(const std::string& file, const char* what, uint32_t version) {
  return file + ": written by a newer scaledl (" + what + " format version " +
         std::to_string(version) + "; this build reads up to " +
         std::to_string(kRecordFormatVersion) + "); upgrade scaledl";
}

void append_shard_header(std::vector<uint8_t>& out) {
  out.insert(out.end(), kShardMagic, kShardMagic + sizeof kShardMagic);
  store<uint32_t>(out, kRecordFormatVersion);
  store<uint32_t>(out, 0);  // reserved: written as 0, ignored by readers
}

void check_shard_header(const uint8_t* p, size_t n, const std::string& name) {
  if (n < kShardHeaderBytes || std::memcmp(p, kShardMagic, sizeof kShardMagic) != 0)
    throw Error("data", name + ": not a scaledl record shard (" +
                            (n < kShardHeaderBytes
                                 ? "only " + std::to_string(n) + " bytes, a header needs 16"
                                 : std::string("wrong magic at byte 0")) +
                            "); point at a folder made by `scaledl data pack`");
  uint32_t version = load<uint32_t>(p + 8);
  if (version > kRecordFormatVersion)
    throw Error("data", newer_version_message(name, "record", version));
  if (version == 0)
    throw Error("data", name +
                            ": record format version 0 at byte 8 does not exist; the shard "
                            "header is corrupt; " +
                            std::string(kRepackHint));
}

uint64_t check_frame_head(const uint8_t* p, uint64_t avail, uint64_t offset, uint64_t file_end,
                          int64_t record, const std::string& name) {
  if (avail < kFrameHeadBytes)
    throw DataCorrupt(record_where(name, record, offset) +
                      ": truncated (frame header needs 12 bytes, file ends at " +
                      std::to_string(file_end) + "); " + kCorruptHint);
  const uint64_t len = load<uint64_t>(p);
  const uint32_t stored = load<uint32_t>(p + 8), computed = crc32c(p, 8);
  if (stored != computed)
    throw DataCorrupt(record_where(name, record, offset) + ": length field fails its CRC32C " +
                      "(stored " + hex32(stored) + ", computed " + hex32(computed) + "); " +
                      kCorruptHint);
  // Compare without forming offset + 16 + len, which a hostile length (2^64 - 1) would overflow.
  if (avail >= kFrameOverhead && len <= avail - kFrameOverhead) return len + kFrameOverhead;
  const bool past_end =
      offset > file_end || len > file_end - offset || file_end - offset - len < kFrameOverhead;
  const std::string needs = len > std::numeric_limits<uint64_t>::max() - kFrameOverhead
                                ? "more than 2^64"
                                : std::to_string(len + kFrameOverhead);
  if (past_end)
    throw DataCorrupt(record_where(name, record, offset) + ": truncated (frame needs " + needs +
                      " bytes, file ends at " + std::to_string(file_end) + "); " + kCorruptHint);
  throw DataCorrupt(record_where(name, record, offset) + ": frame needs " + needs +
                    " bytes but the index puts the next record at byte " +
                    std::to_string(offset + avail) + "; " + kCorruptHint);
}

uint64_t decode_frame(const uint8_t* p, uint64_t avail, uint64_t offset, uint64_t file_end,
                      int64_t record, const std::string& name, Record& out) {
  const uint64_t frame = check_frame_head(p, avail, offset, file_end, record, name);
  const uint64_t len = frame - kFrameOverhead;
  const uint8_t* payload = p + kFrameHeadBytes;
  const uint32_t stored = load<uint32_t>(payload + len), computed = crc32c(payload, len);
  if (stored != computed)
    throw DataCorrupt(record_where(name, record, offset) + ": payload fails its CRC32C (stored " +
                      hex32(stored) + ", computed " + hex32(computed) + "); " + kCorruptHint);
  decode_payload(payload, len, out, record_where(name, record, offset));
  return frame;
}

}  // namespace record_detail

void encode_payload(const Record& r, std::vector<uint8_t>& out) {
  auto bad = [&](const std::string& what) {
    return Error("data", "record '" + r.key + "': " + what + "; fix the data source");
  };
  if (r.labels.empty()) throw bad("has no labels (want at least 1)");
  if (r.labels.size() > 255) throw bad(std::to_string(r.labels.size()) + " labels (at most 255)");
  if (r.key.size() > 65535)
    throw bad("key of " + std::to_string(r.key.size()) + " bytes (at most 65535)");
  if (r.encoding == ImageEncoding::raw_u8) {
    if (r.height <= 0 || r.width <= 0 || r.channels <= 0 ||
        uint64_t(r.height) * uint64_t(r.width) * uint64_t(r.channels) != r.image.size())
      throw bad("raw_u8 image of " + std::to_string(r.image.size()) + " bytes is not " +
                std::to_string(r.height) + "x" + std::to_string(r.width) + "x" +
                std::to_string(r.channels));
  } else if (r.encoding == ImageEncoding::raw_f32) {
    throw bad(
        "holds f32 model inputs (an npy source), which record shards do not store; read "
        "npy:FILE directly");
  } else if (r.encoding != ImageEncoding::jpeg) {
    throw bad("unknown image encoding " + std::to_string(int(r.encoding)));
  } else if (r.height < 0 || r.width < 0 || r.channels < 0) {
    throw bad("negative image size");
  }
  out.clear();
  out.reserve(kPayloadFixedBytes + 4 * r.labels.size() + r.key.size() + 8 + r.image.size());
  out.push_back(static_cast<uint8_t>(r.encoding));
  out.push_back(static_cast<uint8_t>(r.labels.size()));
  store<uint16_t>(out, static_cast<uint16_t>(r.key.size()));
  store<int32_t>(out, r.height);
  store<int32_t>(out, r.width);
  store<int32_t>(out, r.channels);
  for (int32_t l : r.labels) store<int32_t>(out, l);
  out.insert(out.end(), r.key.begin(), r.key.end());
  store<uint64_t>(out, r.image.size());
  out.insert(out.end(), r.image.begin(), r.image.end());
}

void decode_payload(const uint8_t* p, size_t n, Record& out, const std::string& where) {
  auto bad = [&](const std::string& what) {
    return DataCorrupt(where + ": malformed payload: " + what + "; " + kCorruptHint);
  };
  if (n < kPayloadFixedBytes)
    throw bad(std::to_string(n) + " bytes, shorter than its 16-byte fixed part");
  const uint8_t enc = p[0], nlabels = p[1];
  const uint16_t key_len = load<uint16_t>(p + 2);
  const int32_t h = load<int32_t>(p + 4), w = load<int32_t>(p + 8), c = load<int32_t>(p + 12);
  if (enc > static_cast<uint8_t>(ImageEncoding::raw_u8))
    throw bad("unknown image encoding " + std::to_string(enc) + " at payload byte 0");
  if (nlabels == 0) throw bad("label count 0 at payload byte 1 (want at least 1)");
  // All three are small (labels <= 255 * 4, key < 64 KiB): no overflow.
  const size_t image_at = kPayloadFixedBytes + 4 * size_t{nlabels} + key_len + 8;
  if (image_at > n)
    throw bad(std::to_string(nlabels) + " labels and a " + std::to_string(key_len) +
              "-byte key need " + std::to_string(image_at) + " bytes; the payload has " +
              std::to_string(n));
  const uint64_t image_len = load<uint64_t>(p + image_at - 8);
  if (image_len != n - image_at)
    throw bad("image length " + std::to_string(image_len) + " at payload byte " +
              std::to_string(image_at - 8) + " does not match the " + std::to_string(n - image_at) +
              " bytes left");
  const auto encoding = static_cast<ImageEncoding>(enc);
  if (encoding == ImageEncoding::raw_u8) {
    // h * w < 2^62 cannot overflow; comparing image_len / c avoids multiplying by c.
    const bool ok = h > 0 && w > 0 && c > 0 && image_len % uint64_t(c) == 0 &&
                    image_len / uint64_t(c) == uint64_t(h) * uint64_t(w);
    if (!ok)
      throw bad("raw_u8 image of " + std::to_string(image_len) + " bytes is not " +
                std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(c));
  } else if (h < 0 || w < 0 || c < 0) {
    throw bad("negative image size " + std::to_string(h) + "x" + std::to_string(w) + "x" +
              std::to_string(c));
  }
  out.encoding = encoding;
  out.height = h;
  out.width = w;
  out.channels = c;
  out.labels.resize(nlabels);
  for (size_t i = 0; i < nlabels; ++i)
    out.labels[i] = load<int32_t>(p + kPayloadFixedBytes + 4 * i);
  out.key.assign(reinterpret_cast<const char*>(p) + kPayloadFixedBytes + 4 * nlabels, key_len);
  out.image.assign(p + image_at, p + n);
}

void scan_shard(const uint8_t* data, size_t n, const std::string& name,
                std::vector<uint64_t>& offsets) {
  offsets.clear();
  check_shard_header(data, n, name);
  uint64_t off = kShardHeaderBytes;
  while (off < n) {
    const auto record = static_cast<int64_t>(offsets.size());
    offsets.push_back(off);
    off += check_frame_head(data + off, n - off, off, n, record, name);
  }
}

uint64_t parse_frame(const uint8_t* data, size_t n, uint64_t offset, int64_t record,
                     const std::string& name, Record& out) {
  const uint64_t avail = offset <= n ? n - offset : 0;
  return decode_frame(data + (offset <= n ? offset : n), avail, offset, n, record, name, out);
}

}  // namespace scaledl
