// Sessions, CSRF tokens and OAuth states.
#include "portal/session.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace scaledl::portal {

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("portal", std::string("cannot open /dev/urandom (") + std::strerror(errno) +
                              "); sessions need it: check the container's /dev");
  size_t got = 0;
  while (got < bytes) {
    const ssize_t n = ::read(fd, buf.data() + got, bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw Error("portal", "short read from /dev/urandom; sessions need it");
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes);
  for (const unsigned char b : buf) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool csrf_matches(const Session& s, std::string_view token) {
  return !s.csrf.empty() && constant_time_equal(s.csrf, token);
}

Session SessionStore::create(const std::string& user, bool admin, double now) {
  Session s;
  s.id = random_hex(32);
  s.user = user;
  s.admin = admin;
  s.csrf = random_hex(32);
  s.expires_at = now + ttl_s_;
  std::lock_guard<std::mutex> lock(mu_);
  if (sessions_.size() >= max_) prune(now);
  sessions_[s.id] = s;
  return s;
}

std::optional<Session> SessionStore::find(std::string_view id, double now) {
  if (id.size() != 64) return std::nullopt;  // not one of ours: no lookup at all
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(std::string(id));
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires_at <= now) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionStore::erase(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(std::string(id));
}

size_t SessionStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

void SessionStore::prune(double now) {
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second.expires_at <= now; });
  while (sessions_.size() >= max_) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.expires_at < b.second.expires_at;
    });
    sessions_.erase(oldest);
  }
}

std::string OAuthStates::create(const std::string& next_url, double now) {
  std::string state = random_hex(16);
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(states_, [now](const auto& kv) { return kv.second.expires_at <= now; });
  if (states_.size() >= max_) states_.erase(states_.begin());
  states_[state] = Entry{next_url, now + ttl_s_};
  return state;
}

std::optional<std::string> OAuthStates::consume(std::string_view state, double now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(std::string(state));
  if (it == states_.end()) return std::nullopt;
  Entry e = std::move(it->second);
  states_.erase(it);
  if (e.expires_at <= now) return std::nullopt;
  return e.next_url;
}

}  // namespace scaledl::portal
