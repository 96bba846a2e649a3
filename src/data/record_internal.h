// Internals shared by record.cc (payload and frame parsing) and record_shard.cc (ShardWriter,
// ShardReader): magic numbers, little-endian loads and stores, and the frame check both use.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "data/record.h"

namespace scaledl::record_detail {

// The formats are little-endian on disk; plain memcpy loads are only right on such a host.
static_assert(std::endian::native == std::endian::little,
              "record I/O assumes a little-endian host");

inline constexpr char kShardMagic[8] = {'S', 'D', 'L', 'R', 'E', 'C', '\0', '\0'};
inline constexpr char kIndexMagic[8] = {'S', 'D', 'L', 'I', 'D', 'X', '\0', '\0'};
inline constexpr size_t kShardHeaderBytes = 16;   // magic, u32 version, u32 reserved
inline constexpr size_t kFrameHeadBytes = 12;     // u64 payload length, u32 CRC32C of it
inline constexpr size_t kFrameOverhead = 16;      // head + u32 CRC32C of the payload
inline constexpr size_t kPayloadFixedBytes = 16;  // encoding, label count, key length, h, w, c
inline constexpr const char* kCorruptHint =
    "re-pack the data set with `scaledl data pack`, or pass --skip-corrupt N to skip bad records";
inline constexpr const char* kRepackHint = "re-pack the data set with `scaledl data pack`";

// memcpy: the fields of a frame or index are not aligned.
template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void store(std::vector<uint8_t>& out, T v) {
  uint8_t b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out.insert(out.end(), b, b + sizeof v);
}

// "<name>: record N at byte offset O", the prefix of every per-record message.
std::string record_where(const std::string& name, int64_t record, uint64_t offset);
// The newer-version message: "<file>: written by a newer scaledl (... version N; ...)".
std::string newer_version_message(const std::string& file, const char* what, uint32_t version);

// Appends the 16-byte shard header.
void append_shard_header(std::vector<uint8_t>& out);
// Checks a shard's first `n` bytes (n may be < 16): magic and version. Throws Error naming `name`.
void check_shard_header(const uint8_t* p, size_t n, const std::string& name);

// Checks the frame head at `p` (`avail` readable bytes; the frame starts at byte `offset` of a
// file of `file_end` bytes): the length CRC, and that the whole frame lies within `avail`.
// Returns the frame size (16 + payload length). Throws DataCorrupt.
uint64_t check_frame_head(const uint8_t* p, uint64_t avail, uint64_t offset, uint64_t file_end,
                          int64_t record, const std::string& name);
// check_frame_head, then the payload CRC and decode_payload. Returns the frame size.
uint64_t decode_frame(const uint8_t* p, uint64_t avail, uint64_t offset, uint64_t file_end,
                      int64_t record, const std::string& name, Record& out);

}  // namespace scaledl::record_detail
