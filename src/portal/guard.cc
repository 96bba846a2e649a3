// The checks every request passes before its handler: who is asking, and for a POST whether it
// comes from the portal's own page (CSRF token, Origin).
#include <chrono>

#include "portal/context.h"
#include "portal/run_files.h"
#include "portal/web_text.h"
#include "telemetry/run_status.h"

namespace scaledl::portal {

namespace {

bool wants_secure_cookie(const PortalState& st, const httplib::Request& req) {
  if (req.get_header_value("X-Forwarded-Proto") == "https") return true;
  return st.hub && st.hub->settings().public_host.rfind("https://", 0) == 0;
}

// The request's target without its `token` parameter (where a signed-in browser goes next).
std::string without_token(const PortalState& st, const httplib::Request& req) {
  std::string query;
  for (const auto& [k, v] : req.params) {
    if (k == "token") continue;
    query += query.empty() ? '?' : '&';
    query += url_encode(k);
    query += '=';
    query += url_encode(v);
  }
  const std::string path = req.path.rfind(st.prefix, 0) == 0 ? req.path : st.prefix;
  return url_encode(path, true) + query;
}

void start_login(PortalState& st, const httplib::Request& req, httplib::Response& res) {
  const std::string state = st.oauth_states.create(req.target, unix_now());
  res.set_header("Set-Cookie", session_cookie(st, req, state, kStateCookie, 600));
  res.set_redirect(authorize_url(st.hub->settings(), state), 302);
}

}  // namespace

std::string session_cookie(const PortalState& st, const httplib::Request& req,
                           const std::string& id, const std::string& name, int max_age_s) {
  std::string c = name + "=" + id + "; Path=" + st.prefix + "; HttpOnly; SameSite=Lax";
  if (id.empty())
    c += "; Max-Age=0";
  else if (max_age_s >= 0)
    c += "; Max-Age=" + std::to_string(max_age_s);
  if (wants_secure_cookie(st, req)) c += "; Secure";
  return c;
}

std::optional<Session> session_of(PortalState& st, const httplib::Request& req) {
  const auto cookies = parse_cookies(req.get_header_value("Cookie"));
  const auto it = cookies.find(kSessionCookie);
  if (it == cookies.end()) return std::nullopt;
  return st.sessions.find(it->second, unix_now());
}

bool origin_allowed(const PortalState& st, const httplib::Request& req) {
  if (!req.has_header("Origin")) return true;  // not a browser's cross-site form or fetch
  const std::string origin = req.get_header_value("Origin");
  const std::string host = req.get_header_value("Host");
  if (!host.empty() && (origin == "http://" + host || origin == "https://" + host)) return true;
  return st.hub && !st.hub->settings().public_host.empty() &&
         origin == st.hub->settings().public_host;
}

httplib::Server::Handler guarded(PortalState& st, Kind kind, SessionHandler handler,
                                 PostCheck post) {
  return [&st, kind, handler, post](const httplib::Request& req, httplib::Response& res) {
    std::optional<Session> s = session_of(st, req);
    if (!s && !st.hub && req.has_param("token") &&
        constant_time_equal(req.get_param_value("token"), st.opt.token)) {
      // Standalone sign-in: the token from the startup line becomes a session cookie.
      s = st.sessions.create(st.process_user, st.is_admin(st.process_user), unix_now());
      res.set_header("Set-Cookie", session_cookie(st, req, s->id));
      if (kind == Kind::page && req.method == "GET") {
        res.set_redirect(without_token(st, req), 302);
        return;
      }
    }
    if (!s) {
      if (kind == Kind::page && req.method == "GET" && st.hub) return start_login(st, req, res);
      throw HttpError(401, st.hub ? "not signed in: sign in through the hub"
                                  : "not signed in: open the URL with ?token= that the portal "
                                    "printed when it started");
    }
    if (req.method == "POST") {
      if (!origin_allowed(st, req))
        throw HttpError(403, "cross-origin POST refused: the Origin header is not this portal");
      if (post == PostCheck::origin_required) {
        if (!req.has_header("Origin"))
          throw HttpError(403, "POST refused: no Origin header to show it comes from this portal");
        return handler(req, res, *s);
      }
      std::string token = req.get_header_value("X-CSRF-Token");
      if (token.empty() &&
          req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0)
        if (const auto form = parse_form(req.body)) token = form_value(*form, "_csrf");
      if (!csrf_matches(*s, token))
        throw HttpError(403, "missing or wrong CSRF token: reload the page and try again");
    }
    handler(req, res, *s);
  };
}

void send_json(httplib::Response& res, const nlohmann::json& j, int status) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

void send_html(httplib::Response& res, const std::string& html, int status) {
  res.status = status;
  res.set_content(html, "text/html; charset=utf-8");
}

RunRef visible_run(const PortalState& st, const Viewer& v, const std::string& raw_id) {
  RunRef ref;
  switch (st.index.find(raw_id, &ref)) {
    case RunIndex::Lookup::bad_id:
      throw HttpError(400, "not a run id: ids are paths like user/run-name inside a --runs root");
    case RunIndex::Lookup::not_found:
      throw HttpError(404, "no such run");
    case RunIndex::Lookup::found:
      break;
  }
  if (!v.may_see(ref)) throw HttpError(404, "no such run");  // others' runs do not exist
  return ref;
}

}  // namespace scaledl::portal
