// Run ids, link-free opening of run folders and their files, and the run's state.
#include "portal/run_files.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "portal/web_text.h"
#include "telemetry/run_status.h"

namespace scaledl::portal {

namespace {

constexpr size_t kMaxIdLength = 512;
constexpr size_t kMaxComponents = 3;

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("._-+@=,:~").find(c) != std::string_view::npos;
}

}  // namespace

bool valid_id_component(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  for (const char c : name)
    if (!id_char(c)) return false;
  return true;
}

std::optional<std::string> clean_run_id(std::string_view raw) {
  if (raw.size() > 3 * kMaxIdLength) return std::nullopt;
  std::optional<std::string> id = percent_decode(raw);
  if (!id || id->empty() || id->size() > kMaxIdLength) return std::nullopt;
  size_t components = 0, start = 0;
  while (start <= id->size()) {
    const size_t slash = id->find('/', start);
    const size_t end = slash == std::string::npos ? id->size() : slash;
    if (!valid_id_component(std::string_view(*id).substr(start, end - start))) return std::nullopt;
    if (++components > kMaxComponents) return std::nullopt;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return id;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Fd open_run_dir(const std::string& root, const std::string& id) {
  Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  size_t start = 0;
  while (dir.ok() && start < id.size()) {
    size_t slash = id.find('/', start);
    if (slash == std::string::npos) slash = id.size();
    const std::string part = id.substr(start, slash - start);
    dir = Fd(::openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    start = slash + 1;
  }
  return dir;
}

std::string user_name(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw, *found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) return pw.pw_name;
  return std::to_string(uid);
}

std::string owner_of(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return "";
  return user_name(st.st_uid);
}

std::optional<std::string> read_file_at(int dir_fd, const char* name, size_t offset,
                                        size_t max_bytes, size_t* size) {
  Fd f(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  struct stat st;
  if (!f.ok() || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const size_t total = static_cast<size_t>(st.st_size);
  if (size) *size = total;
  std::string out;
  if (offset >= total) return out;
  out.resize(std::min(max_bytes, total - offset));
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n =
        ::pread(f.get(), out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

nlohmann::json read_json_at(int dir_fd, const char* name) {
  const std::optional<std::string> text = read_file_at(dir_fd, name, 0, 16u << 20);
  if (!text) return nullptr;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

bool has_file_at(int dir_fd, const char* name) {
  struct stat st;
  return ::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

RunState run_state(const nlohmann::json& r, double now, const std::string& this_host) {
  RunStatusView v = run_status_of(r, now, this_host);
  return {std::move(v.state), std::move(v.line)};
}

}  // namespace scaledl::portal
