// AtomicFile: temp file + fsync + rename + directory fsync.
#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace scaledl {

namespace {

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())) {
  if (path_.empty() || path_.back() == '/')
    throw Error("io", "'" + path_ + "' is not a file path; give a file name to write");
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) fail("cannot create " + tmp_, errno);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
}

void AtomicFile::fail(const std::string& what, int err) {
  discard();
  committed_ = true;  // nothing left to clean up
  throw Error("io", path_ + ": " + what + ": " + std::strerror(err) +
                        "; check the directory exists and is writable");
}

void AtomicFile::write(const void* data, size_t bytes) {
  if (fd_ < 0) throw Error("io", path_ + ": write after commit or failure");
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write " + tmp_, errno);
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw Error("io", path_ + ": commit after commit or failure");
  if (::fsync(fd_) != 0) fail("cannot flush " + tmp_, errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("cannot close " + tmp_, errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot rename " + tmp_ + " over it", errno);
  committed_ = true;
  int dir = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    int rc = ::fsync(dir);
    int err = errno;
    ::close(dir);
    // Some file systems cannot fsync a directory (EINVAL); the rename is done either way.
    if (rc != 0 && err != EINVAL)
      throw Error("io", path_ + ": written, but syncing its directory failed: " +
                            std::strerror(err) + "; check the disk");
  }
}

uint64_t remove_stale_temporaries(const std::string& dir) {
  uint64_t freed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at + 5 >= name.size()) continue;
    const std::string pid = name.substr(at + 5);
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    const pid_t p = static_cast<pid_t>(std::stol(pid));
    if (p == ::getpid() || ::kill(p, 0) == 0 || errno != ESRCH)
      continue;  // alive, or not ours to judge
    std::error_code size_ec, rm_ec;
    const uintmax_t size = entry.file_size(size_ec);
    if (std::filesystem::remove(entry.path(), rm_ec) && !size_ec) freed += size;
  }
  return freed;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

}  // namespace scaledl
