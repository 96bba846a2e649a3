// Reading a run folder safely when its owner may be hostile: a run id is validated before it
// touches the file system, the folder is reached from its --runs root one component at a time
// without following a symbolic link, and files are opened inside it the same way, so no link,
// '..' or race can make the portal (which may run as root) read a file outside the root.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace scaledl::portal {

// A run id as found in a URL: percent-decoded, then checked to be a relative path of 1 to 3
// components, each of letters, digits and ._-+@=,:~ and not starting with '.'. nullopt for
// anything else ('..', an absolute path, NUL, '%', '\\', empty components, too long).
std::optional<std::string> clean_run_id(std::string_view raw);
// True when `name` may be one component of a run id.
bool valid_id_component(std::string_view name);

// An open file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// The folder `root`/`id` opened without following links in `id`; an invalid Fd when a
// component is missing, not a folder or a link. `id` must already be clean.
Fd open_run_dir(const std::string& root, const std::string& id);
// The owner's user name of an open file (its uid as text when the user has no passwd entry).
std::string owner_of(int fd);
std::string user_name(uid_t uid);

// The regular file `name` inside the folder `dir_fd` (not a link), at most `max_bytes` from
// `offset`; nullopt when absent, not a regular file, or unreadable. `size` gets the file's size.
std::optional<std::string> read_file_at(int dir_fd, const char* name, size_t offset,
                                        size_t max_bytes, size_t* size = nullptr);
// The JSON file `name` in `dir_fd` (at most 16 MiB); null when absent or not JSON.
nlohmann::json read_json_at(int dir_fd, const char* name);
// True when `name` exists in `dir_fd` as a regular file (links not followed).
bool has_file_at(int dir_fd, const char* name);

// How a run stands from its status.json record at Unix time `now`: telemetry's rule
// (run_status_of, docs/stopping.md): "running", or "lost" when its heartbeat is older than
// three intervals plus 5 s or (on this host) its pid is gone; else the record's own state
// ("unknown" without one).
struct RunState {
  std::string state;
  std::string line;  // one line for a person
};
RunState run_state(const nlohmann::json& status, double now, const std::string& this_host);

}  // namespace scaledl::portal
