// What the portal's route files share: the state behind the server, the guard every route goes
// through (who is asking; for a POST also the CSRF token and the Origin), and small helpers to
// answer with JSON, HTML or an error.
#pragma once
#include <httplib.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "portal/hub_auth.h"
#include "portal/portal.h"
#include "portal/run_index.h"
#include "portal/session.h"

namespace scaledl::portal {

class TensorBoards;

// An answer other than 200, thrown by a handler and written by the exception handler.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

constexpr const char* kSessionCookie = "scaledl-session";
constexpr const char* kStateCookie = "scaledl-oauth-state";
constexpr size_t kMaxBody = 64 * 1024;  // the largest POST body taken (a submit form)

struct PortalState {
  explicit PortalState(PortalOptions o);
  ~PortalState();

  PortalOptions opt;
  std::string prefix;  // "/" or "/services/scaledl/"
  RunIndex index;
  SessionStore sessions;
  OAuthStates oauth_states;
  std::unique_ptr<HubClient> hub;  // null standalone
  std::string chart_js;            // "" when Debian's Chart.js could not be read
  std::string host;                // this machine's name (run states)
  std::string process_user;        // who the portal runs as
  bool is_root = false;
  std::unique_ptr<TensorBoards> tensorboards;
  httplib::Server server;
  int port = 0;

  Viewer viewer(const Session& s) const { return {s.user, s.admin}; }
  bool is_admin(const std::string& user) const;
  // A route pattern under the prefix (httplib matches the whole path).
  std::string route(const std::string& pattern) const;
};

using SessionHandler =
    std::function<void(const httplib::Request&, httplib::Response&, const Session&)>;
enum class Kind { page, api };

// How a POST proves it comes from the portal's own page: the session's CSRF token (and, when
// sent, a same-origin Origin); or, for TensorBoard's own requests, which cannot carry our
// token, a same-origin Origin that must be present.
enum class PostCheck { csrf, origin_required };
// The handler wrapped in the checks every request passes: a session (else a sign-in redirect
// for a page in hub mode, 401 otherwise); for a POST the PostCheck.
httplib::Server::Handler guarded(PortalState& st, Kind kind, SessionHandler handler,
                                 PostCheck post = PostCheck::csrf);
// A POST's Origin (when sent) is the portal's own or the hub's public host.
bool origin_allowed(const PortalState& st, const httplib::Request& req);
// The session cookie's Set-Cookie value (or one that clears it when `id` is empty).
std::string session_cookie(const PortalState& st, const httplib::Request& req,
                           const std::string& id, const std::string& name = kSessionCookie,
                           int max_age_s = -1);
// The session a request carries, if any.
std::optional<Session> session_of(PortalState& st, const httplib::Request& req);

void send_json(httplib::Response& res, const nlohmann::json& j, int status = 200);
void send_html(httplib::Response& res, const std::string& html, int status = 200);
// The run `raw_id` if this viewer may see it: 400 for a bad id, 404 when absent or not theirs.
RunRef visible_run(const PortalState& st, const Viewer& v, const std::string& raw_id);

// Route groups, one file each.
void add_static_routes(PortalState& st);
void add_auth_routes(PortalState& st);
void add_run_routes(PortalState& st);
void add_job_routes(PortalState& st);
void add_tensorboard_routes(PortalState& st);

}  // namespace scaledl::portal
