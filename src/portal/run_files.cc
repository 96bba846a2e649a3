// Run ids, link-free opening of run folders and their files, and the run's state.
#include "portal/run_files.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <vector>

#include "portal/web_text.h"

namespace scaledl::portal {

namespace {

constexpr size_t kMaxIdLength = 512;
constexpr size_t kMaxComponents = 3;

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("._-+@=,:~").find(c) != std::string_view::npos;
}

std::string ago(double s) {
  char buf[64];
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.0f s ago", s < 0 ? 0.0 : s);
  else if (s < 7200)
    std::snprintf(buf, sizeof buf, "%.0f min ago", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.1f h ago", s / 3600);
  return buf;
}

int64_t int_field(const nlohmann::json& j, const char* k) {
  return j.contains(k) && j[k].is_number() ? j[k].get<int64_t>() : 0;
}

double num_field(const nlohmann::json& j, const char* k, double fallback) {
  return j.contains(k) && j[k].is_number() ? j[k].get<double>() : fallback;
}

std::string str_field(const nlohmann::json& j, const char* k, const char* fallback) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : fallback;
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
  if (!r.is_object() || !r.contains("state") || !r["state"].is_string())
    return {"unknown", "no status.json (a run from before status files, or not a training run)"};
  RunState v{r["state"].get<std::string>(), ""};
  const int64_t step = int_field(r, "step"), planned = int_field(r, "steps_planned");
  const int64_t ck = int_field(r, "checkpoint_step");
  const std::string at = "step " + std::to_string(step) + " of " + std::to_string(planned);
  const double beat = num_field(r, "heartbeat_at", 0), interval = num_field(r, "heartbeat_s", 10);
  if (v.state == "running") {
    const bool here = str_field(r, "host", "") == this_host;
    const pid_t pid = static_cast<pid_t>(int_field(r, "pid"));
    const bool gone = here && pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
    if (gone || now - beat > 3 * interval + 5) {
      v.state = "lost";
      v.line = "lost: last heartbeat " + ago(now - beat) + " at " + at +
               (gone ? " and its process is gone" : "") + "; the last checkpoint is at step " +
               std::to_string(ck) + ": continue with --resume auto";
    } else {
      v.line = "running: " + at + ", heartbeat " + ago(now - beat);
    }
  } else if (v.state == "completed") {
    v.line = "completed: " + at;
  } else if (v.state == "stopped") {
    v.line = "stopped by " + str_field(r, "signal", "a signal") + " at step " +
             std::to_string(step) + ", checkpoint at step " + std::to_string(ck);
  } else if (v.state == "failed") {
    v.line = "failed at " + at + ": " + str_field(r, "error", "(no error recorded)");
  } else {
    v.line = v.state;
  }
  return v;
}

std::string this_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace scaledl::portal
