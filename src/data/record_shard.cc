// ShardWriter and ShardReader: a shard file plus its index, written through AtomicFile and read
// with pread so one reader serves every loader thread.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "core/atomic_file.h"
#include "core/crc32c.h"
#include "core/error.h"
#include "data/corrupt.h"
#include "data/record.h"
#include "data/record_internal.h"

namespace scaledl {

using namespace record_detail;

namespace {

constexpr size_t kIndexFixedBytes = 24;  // magic, u32 version, u32 reserved, u64 count

std::string base_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string index_path_of(const std::string& shard) {
  if (shard.size() < 5 || shard.compare(shard.size() - 4, 4, ".rec") != 0)
    throw Error("data", "'" + shard + "': a record shard's file name must end in .rec");
  return shard.substr(0, shard.size() - 4) + ".idx";
}

// Reads up to `n` bytes at `offset`, retrying short reads; returns the bytes read (fewer only at
// the end of the file).
uint64_t pread_full(int fd, uint8_t* p, uint64_t n, uint64_t offset, const std::string& path) {
  uint64_t got = 0;
  while (got < n) {
    size_t ask = static_cast<size_t>(std::min<uint64_t>(n - got, uint64_t{1} << 30));
    ssize_t r = ::pread(fd, p + got, ask, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error("io", path + ": read failed at byte " + std::to_string(offset + got) + ": " +
                            std::strerror(errno) + "; check the disk");
    }
    if (r == 0) break;
    got += static_cast<uint64_t>(r);
  }
  return got;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ShardWriter

struct ShardWriter::Impl {
  std::string path, index_path;
  AtomicFile shard;
  std::vector<uint64_t> offsets;
  std::vector<int32_t> labels;
  std::vector<uint32_t> key_offsets{0};
  std::string keys;  // the key blob
  std::vector<uint8_t> payload, frame;
  uint64_t bytes = 0;
  uint32_t crc = 0;  // CRC32C of everything written to the shard so far
  bool finished = false;

  Impl(std::string p, std::string ip)
      : path(std::move(p)), index_path(std::move(ip)), shard(path) {}

  void put(const std::vector<uint8_t>& b) {
    shard.write(b.data(), b.size());
    crc = crc32c(b.data(), b.size(), crc);
    bytes += b.size();
  }
};

ShardWriter::ShardWriter(std::string path) {
  std::string index = index_path_of(path);
  impl_ = new Impl(std::move(path), std::move(index));
  std::vector<uint8_t> header;
  append_shard_header(header);
  impl_->put(header);
}

ShardWriter::~ShardWriter() {
  delete impl_;
}  // an uncommitted AtomicFile removes its temporary

void ShardWriter::add(const Record& r) {
  Impl& m = *impl_;
  if (m.finished) throw Error("data", m.path + ": add() after finish()");
  encode_payload(r, m.payload);
  if (m.keys.size() + r.key.size() > std::numeric_limits<uint32_t>::max())
    throw Error("data", m.path + ": the keys of one shard pass 4 GiB; use a smaller shard size");
  m.frame.clear();
  store<uint64_t>(m.frame, m.payload.size());
  store<uint32_t>(m.frame, crc32c(m.frame.data(), 8));
  m.frame.insert(m.frame.end(), m.payload.begin(), m.payload.end());
  store<uint32_t>(m.frame, crc32c(m.payload.data(), m.payload.size()));
  m.offsets.push_back(m.bytes);
  m.labels.push_back(r.labels[0]);
  m.keys += r.key;
  m.key_offsets.push_back(static_cast<uint32_t>(m.keys.size()));
  m.put(m.frame);
}

int64_t ShardWriter::records() const {
  return static_cast<int64_t>(impl_->offsets.size());
}
uint64_t ShardWriter::bytes() const {
  return impl_->bytes;
}

ShardInfo ShardWriter::finish() {
  Impl& m = *impl_;
  if (m.finished) throw Error("data", m.path + ": finish() called twice");
  std::vector<uint8_t> idx;
  idx.reserve(kIndexFixedBytes + 16 * m.offsets.size() + 8 + m.keys.size());
  idx.insert(idx.end(), kIndexMagic, kIndexMagic + sizeof kIndexMagic);
  store<uint32_t>(idx, kRecordFormatVersion);
  store<uint32_t>(idx, 0);
  store<uint64_t>(idx, m.offsets.size());
  for (uint64_t o : m.offsets) store<uint64_t>(idx, o);
  for (int32_t l : m.labels) store<int32_t>(idx, l);
  for (uint32_t k : m.key_offsets) store<uint32_t>(idx, k);
  idx.insert(idx.end(), m.keys.begin(), m.keys.end());
  store<uint32_t>(idx, crc32c(idx.data(), idx.size()));
  // The index goes first: a visible shard always has its index beside it.
  AtomicFile index(m.index_path);
  index.write(idx.data(), idx.size());
  index.commit();
  m.shard.commit();
  m.finished = true;
  ShardInfo info;
  info.file = base_name(m.path);
  info.index_file = base_name(m.index_path);
  info.records = records();
  info.bytes = m.bytes;
  info.crc32c = m.crc;
  return info;
}

// ---------------------------------------------------------------------------------------------
// ShardReader

struct ShardReader::Impl {
  std::string path, index_path;
  int fd = -1;
  uint64_t file_bytes = 0;
  std::vector<uint64_t> offsets;
  std::vector<int32_t> labels;
  std::vector<std::string> keys;

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }
  void load_index();
  [[noreturn]] void bad_index(const std::string& what) const {
    throw Error("data", index_path + ": " + what + "; the index of " + path + " is damaged; " +
                            kRepackHint);
  }
};

void ShardReader::Impl::load_index() {
  int ifd = ::open(index_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ifd < 0) {
    int err = errno;
    if (err == ENOENT)
      throw Error("data", index_path + " is missing (the index of shard " + path +
                              "); re-pack the data set with `scaledl data pack`");
    throw Error("data",
                index_path + ": cannot open: " + std::strerror(err) + "; check its permissions");
  }
  struct stat st {};
  std::vector<uint8_t> b;
  try {
    if (::fstat(ifd, &st) != 0)
      throw Error("io", index_path + ": cannot stat: " + std::strerror(errno));
    b.resize(static_cast<size_t>(st.st_size));
    if (pread_full(ifd, b.data(), b.size(), 0, index_path) != b.size())
      throw Error("io", index_path + ": shrank while being read; is something rewriting it?");
  } catch (...) {
    ::close(ifd);
    throw;
  }
  ::close(ifd);
  const size_t n = b.size();
  if (n < kIndexFixedBytes + 8 || std::memcmp(b.data(), kIndexMagic, sizeof kIndexMagic) != 0)
    throw Error("data", index_path + ": not a scaledl record index (" +
                            (n < kIndexFixedBytes + 8 ? "only " + std::to_string(n) + " bytes"
                                                      : std::string("wrong magic at byte 0")) +
                            "); " + kRepackHint);
  const uint32_t version = load<uint32_t>(b.data() + 8);
  if (version > kRecordFormatVersion)
    throw Error("data", newer_version_message(index_path, "record index", version));
  const uint32_t stored = load<uint32_t>(b.data() + n - 4), computed = crc32c(b.data(), n - 4);
  if (stored != computed)
    bad_index("CRC32C mismatch (stored " + hex32(stored) + ", computed " + hex32(computed) + ")");
  if (version == 0) bad_index("format version 0 does not exist");
  // Layout: fixed part, count x u64 offsets, count x i32 labels, (count + 1) x u32 key offsets,
  // key blob, u32 CRC. The fixed-size parts take 32 + 16 * count bytes.
  const uint64_t count = load<uint64_t>(b.data() + 16);
  if (count > (n - 32) / 16)
    bad_index("record count " + std::to_string(count) + " does not fit in " + std::to_string(n) +
              " bytes");
  const uint8_t* p_off = b.data() + kIndexFixedBytes;
  const uint8_t* p_lab = p_off + 8 * count;
  const uint8_t* p_key = p_lab + 4 * count;
  const uint8_t* blob = p_key + 4 * (count + 1);
  const uint64_t blob_bytes = n - 32 - 16 * count;
  offsets.resize(count);
  labels.resize(count);
  keys.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t o = load<uint64_t>(p_off + 8 * i);
    const uint64_t min = i ? offsets[i - 1] + kFrameOverhead : kShardHeaderBytes;
    if (i == 0 ? o != kShardHeaderBytes : o < min)
      bad_index("record " + std::to_string(i) + " offset " + std::to_string(o) +
                (i == 0 ? " is not 16"
                        : " does not follow record " + std::to_string(i - 1) + " at " +
                              std::to_string(offsets[i - 1])));
    if (o >= file_bytes)
      throw Error("data", index_path + ": record " + std::to_string(i) + " at byte offset " +
                              std::to_string(o) + " lies past the end of " + path + " (" +
                              std::to_string(file_bytes) +
                              " bytes): the shard is truncated or "
                              "the index belongs to another shard; " +
                              kRepackHint);
    offsets[i] = o;
    labels[i] = load<int32_t>(p_lab + 4 * i);
  }
  uint32_t prev = load<uint32_t>(p_key);
  if (prev != 0) bad_index("key offset 0 is " + std::to_string(prev) + ", not 0");
  for (uint64_t i = 0; i < count; ++i) {
    const uint32_t next = load<uint32_t>(p_key + 4 * (i + 1));
    if (next < prev || next > blob_bytes)
      bad_index("key offset " + std::to_string(i + 1) + " (" + std::to_string(next) +
                ") is outside " + std::to_string(prev) + ".." + std::to_string(blob_bytes));
    keys[i].assign(reinterpret_cast<const char*>(blob) + prev, next - prev);
    prev = next;
  }
  if (prev != blob_bytes)
    bad_index("the keys take " + std::to_string(prev) + " bytes but the key blob has " +
              std::to_string(blob_bytes));
}

ShardReader::ShardReader(std::string path) : impl_(new Impl) {
  try {
    Impl& m = *impl_;
    m.index_path = index_path_of(path);
    m.path = std::move(path);
    m.fd = ::open(m.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m.fd < 0 && (errno == EMFILE || errno == ENFILE))
      throw Error("data", m.path + ": cannot open: " + std::strerror(errno) +
                              " (every shard stays open); raise `ulimit -n` or re-pack with a "
                              "larger --shard-size");
    if (m.fd < 0)
      throw Error("data", m.path + ": cannot open: " + std::strerror(errno) +
                              "; check the path (a folder made by `scaledl data pack`)");
    struct stat st {};
    if (::fstat(m.fd, &st) != 0)
      throw Error("io", m.path + ": cannot stat: " + std::strerror(errno));
    m.file_bytes = static_cast<uint64_t>(st.st_size);
    uint8_t header[kShardHeaderBytes];
    uint64_t got = pread_full(m.fd, header, sizeof header, 0, m.path);
    check_shard_header(header, static_cast<size_t>(got), m.path);
    m.load_index();
  } catch (...) {
    delete impl_;
    throw;
  }
}

ShardReader::~ShardReader() {
  delete impl_;
}

int64_t ShardReader::size() const {
  return static_cast<int64_t>(impl_->offsets.size());
}
uint64_t ShardReader::offset(int64_t i) const {
  return impl_->offsets.at(static_cast<size_t>(i));
}
int32_t ShardReader::label(int64_t i) const {
  return impl_->labels.at(static_cast<size_t>(i));
}
const std::string& ShardReader::key(int64_t i) const {
  return impl_->keys.at(static_cast<size_t>(i));
}
uint64_t ShardReader::file_bytes() const {
  return impl_->file_bytes;
}
const std::string& ShardReader::path() const {
  return impl_->path;
}

uint64_t ShardReader::read(int64_t i, Record& out, std::vector<uint8_t>& scratch) const {
  const Impl& m = *impl_;
  if (i < 0 || i >= size())
    throw Error("data", m.path + ": record " + std::to_string(i) + " does not exist (the shard " +
                            "holds " + std::to_string(size()) + ")");
  const auto k = static_cast<size_t>(i);
  // The index bounds the frame: up to the next record, or to the end of the file for the last.
  const uint64_t off = m.offsets[k];
  const bool last = k + 1 == m.offsets.size();
  const uint64_t extent = (last ? m.file_bytes : m.offsets[k + 1]) - off;
  scratch.resize(static_cast<size_t>(extent));
  const uint64_t got = pread_full(m.fd, scratch.data(), extent, off, m.path);
  // A file that shrank since open() ends at off + got.
  const uint64_t file_end = got < extent ? off + got : m.file_bytes;
  const uint64_t frame = decode_frame(scratch.data(), got, off, file_end, i, m.path, out);
  if (!last && frame != extent)
    throw DataCorrupt(record_where(m.path, i, off) + ": frame of " + std::to_string(frame) +
                      " bytes ends before the next record at byte " + std::to_string(off + extent) +
                      "; " + kCorruptHint);
  return got;
}

}  // namespace scaledl
