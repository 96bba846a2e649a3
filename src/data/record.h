// Record shards: the packed sample format (byte layout in docs/record-format.md).
//
// A shard file "NAME.rec" is a 16-byte header (magic, format version) followed by records, each
// framed as: u64 payload length, u32 CRC32C of those 8 bytes, the payload, u32 CRC32C of the
// payload. The payload holds the labels, the sample key and the encoded image. "NAME.idx" lists
// every record's byte offset (plus its first label and key) so any record can be read directly.
// All integers are little-endian.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace scaledl {

inline constexpr uint32_t kRecordFormatVersion = 1;

enum class ImageEncoding : uint8_t {
  jpeg = 0,     // image holds a JPEG file's bytes
  raw_u8 = 1,   // image holds height x width x channels u8 pixels, row-major (HWC)
  raw_f32 = 2,  // image holds channels x height x width f32 values (CHW, little-endian): model
                // inputs used as they are (npy sources); never stored in record shards
};

struct Record {
  std::string key;              // unique within a data set (e.g. "train/000042", "cat/1.jpg")
  std::vector<int32_t> labels;  // at least one; labels[0] is the class
  ImageEncoding encoding = ImageEncoding::jpeg;
  int32_t height = 0, width = 0, channels = 0;  // raw: the pixel grid; jpeg: 0 (unknown)
  std::vector<uint8_t> image;                   // encoded image bytes
};

// Payload <-> Record. decode_payload throws DataCorrupt naming `where` (e.g. "x.rec record 7 at
// byte offset 4096") when the payload is malformed.
void encode_payload(const Record& r, std::vector<uint8_t>& out);
void decode_payload(const uint8_t* p, size_t n, Record& out, const std::string& where);

// What a finished shard holds (for the manifest).
struct ShardInfo {
  std::string file;        // shard file name (no folder), e.g. "train-00003.rec"
  std::string index_file;  // e.g. "train-00003.idx"
  int64_t records = 0;
  uint64_t bytes = 0;      // shard file size
  uint32_t crc32c = 0;     // CRC32C of the whole shard file
};

// Writes one shard and its index. Nothing is visible at `path` until finish(): both files are
// written to temporaries, fsynced and renamed (index first, then shard). Destroying an
// unfinished writer removes the temporaries. I/O failures throw Error("io", ...).
class ShardWriter {
 public:
  explicit ShardWriter(std::string path);  // path ends in ".rec"; the index is "<stem>.idx"
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add(const Record& r);
  int64_t records() const;
  uint64_t bytes() const;  // bytes written so far (header included)
  ShardInfo finish();

 private:
  struct Impl;
  Impl* impl_;
};

// Reads one shard through its index. The constructor checks the shard header (magic; a version
// newer than kRecordFormatVersion is refused with "written by a newer scaledl"), that the index
// exists and is intact (its own CRC) and that its offsets lie inside the shard; each failure
// throws Error naming the file (a missing index says how to rebuild it). read() is thread-safe
// (pread) and throws DataCorrupt naming the shard file, the record number and its byte offset on
// a bad length CRC, a truncated record, a bad payload CRC or a malformed payload.
class ShardReader {
 public:
  explicit ShardReader(std::string path);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  int64_t size() const;                      // records
  uint64_t offset(int64_t i) const;          // byte offset of record i's frame
  int32_t label(int64_t i) const;            // first label, from the index
  const std::string& key(int64_t i) const;   // sample key, from the index
  uint64_t file_bytes() const;
  const std::string& path() const;

  // Reads, verifies and decodes record i. `scratch` is reused between calls. Returns the number
  // of bytes read from the file (the whole frame).
  uint64_t read(int64_t i, Record& out, std::vector<uint8_t>& scratch) const;

 private:
  struct Impl;
  Impl* impl_;
};

// Parses a whole shard held in memory (no index): calls `fn(record_number, offset, record)` for
// each record and throws like ShardReader::read. Used by `scaledl data verify` and the fuzzer.
// Returns the number of records.
template <typename Fn>
int64_t for_each_record(const uint8_t* data, size_t n, const std::string& name, Fn&& fn);

// Non-template core of for_each_record: fills `offsets` with every record's frame offset.
void scan_shard(const uint8_t* data, size_t n, const std::string& name,
                std::vector<uint64_t>& offsets);
// Verifies and decodes the frame at `offset` of an in-memory shard (for the fuzzer and scans);
// returns the frame size.
uint64_t parse_frame(const uint8_t* data, size_t n, uint64_t offset, int64_t record,
                     const std::string& name, Record& out);

template <typename Fn>
int64_t for_each_record(const uint8_t* data, size_t n, const std::string& name, Fn&& fn) {
  std::vector<uint64_t> offsets;
  scan_shard(data, n, name, offsets);
  Record r;
  for (size_t i = 0; i < offsets.size(); ++i) {
    parse_frame(data, n, offsets[i], static_cast<int64_t>(i), name, r);
    fn(static_cast<int64_t>(i), offsets[i], r);
  }
  return static_cast<int64_t>(offsets.size());
}

}  // namespace scaledl
