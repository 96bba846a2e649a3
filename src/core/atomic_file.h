// Atomic file writes: bytes go to "<path>.tmp.<pid>" in the same directory, are fsynced and
// renamed over `path`, then the directory is fsynced. Readers see the old file or the new one,
// never a half-written one; a failed write leaves an existing file untouched.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace scaledl {

// Streams bytes into a temporary file that commit() publishes at `path`. Destroying an
// uncommitted AtomicFile removes the temporary. Errors throw Error("io", ...).
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // fsync, rename over the target, fsync the directory. Call once.
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  void discard() noexcept;

  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `bytes` to `path` atomically (see AtomicFile).
void write_file_atomic(const std::string& path, std::string_view bytes);

// Removes the temporaries ("NAME.tmp.PID") in `dir` left by writers that were killed (PID no
// longer a process here); returns the bytes freed. For a folder this process now owns.
uint64_t remove_stale_temporaries(const std::string& dir);

}  // namespace scaledl
