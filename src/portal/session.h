// Who is signed in: sessions held in memory (a random 256-bit id in an HttpOnly cookie, an
// expiry, the user, whether an admin, and the session's CSRF token), and the short-lived OAuth
// states that bind a login's redirect to the browser that started it.
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace scaledl::portal {

// `bytes` random bytes from /dev/urandom as lowercase hex (Error when it cannot be read).
std::string random_hex(size_t bytes = 32);
// Equal in time that depends only on the lengths, not on where the first difference is.
bool constant_time_equal(std::string_view a, std::string_view b);

struct Session {
  std::string id;    // the cookie's value
  std::string user;  // the signed-in user's name
  bool admin = false;
  std::string csrf;  // sent back by every POST (form field _csrf or X-CSRF-Token)
  double expires_at = 0;
};

// True when `token` is the session's CSRF token (constant time; an empty token never matches).
bool csrf_matches(const Session& s, std::string_view token);

class SessionStore {
 public:
  explicit SessionStore(double ttl_s, size_t max_sessions = 10000)
      : ttl_s_(ttl_s), max_(max_sessions) {}
  // A new session for `user`, expiring ttl_s after `now`.
  Session create(const std::string& user, bool admin, double now);
  // The session with id `id` if it has not expired at `now` (an expired one is dropped).
  std::optional<Session> find(std::string_view id, double now);
  void erase(std::string_view id);
  size_t size() const;

 private:
  void prune(double now);  // drops expired sessions; the oldest when still full

  double ttl_s_;
  size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Session> sessions_;
};

// OAuth `state` values: made when a login starts (remembering where to go afterwards), used
// once when the hub redirects back, and forgotten after ttl_s.
class OAuthStates {
 public:
  explicit OAuthStates(double ttl_s = 600, size_t max_states = 10000)
      : ttl_s_(ttl_s), max_(max_states) {}
  std::string create(const std::string& next_url, double now);
  // The next URL for `state`, once; nullopt when unknown, used or expired.
  std::optional<std::string> consume(std::string_view state, double now);

 private:
  struct Entry {
    std::string next_url;
    double expires_at;
  };
  double ttl_s_;
  size_t max_;
  std::mutex mu_;
  std::map<std::string, Entry> states_;
};

}  // namespace scaledl::portal
