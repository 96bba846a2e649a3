// Signing in and out, and the static files.
#include "core/error.h"
#include "core/log.h"
#include "portal/assets.h"
#include "portal/context.h"
#include "portal/pages.h"
#include "portal/web_text.h"
#include "telemetry/run_status.h"

namespace scaledl::portal {

namespace {

// The hub sends the browser back here with ?code=&state= once the user has signed in there.
void oauth_callback(PortalState& st, const httplib::Request& req, httplib::Response& res) {
  if (!st.hub) throw HttpError(404, "not running as a JupyterHub service");
  const std::string state = req.get_param_value("state"), code = req.get_param_value("code");
  if (req.has_param("error"))
    throw HttpError(403, "the hub refused the sign-in: " + req.get_param_value("error"));
  const auto cookies = parse_cookies(req.get_header_value("Cookie"));
  const auto it = cookies.find(kStateCookie);
  if (state.empty() || code.empty() || it == cookies.end() ||
      !constant_time_equal(it->second, state))
    throw HttpError(403,
                    "sign-in state does not match this browser's: start again from the portal");
  std::optional<std::string> next = st.oauth_states.consume(state, unix_now());
  if (!next) throw HttpError(403, "sign-in expired or already used: start again from the portal");
  HubUser user;
  try {
    user = st.hub->user_for_token(st.hub->token_for_code(code));
  } catch (const Error& e) {
    log_warn(e.what());
    throw HttpError(502, e.message());
  }
  const Session s = st.sessions.create(user.name, user.admin || st.is_admin(user.name), unix_now());
  // Only a path of ours may follow (no open redirect through the state).
  if (next->rfind(st.prefix, 0) != 0 || next->find("//") != std::string::npos) *next = st.prefix;
  res.set_header("Set-Cookie", session_cookie(st, req, s.id));
  res.headers.emplace("Set-Cookie", session_cookie(st, req, "", kStateCookie));
  res.set_redirect(*next, 302);
}

void serve_static(const std::string& body, const char* type, httplib::Response& res) {
  res.set_header("Cache-Control", "private, max-age=300");
  res.set_content(body, type);
}

}  // namespace

void add_auth_routes(PortalState& st) {
  httplib::Server& srv = st.server;
  srv.Get(st.route("oauth_callback"), [&st](const httplib::Request& req, httplib::Response& res) {
    oauth_callback(st, req, res);
  });
  srv.Post(
      st.route("logout"), guarded(st, Kind::page, [&st](auto& req, auto& res, const Session& s) {
        st.sessions.erase(s.id);
        res.set_header("Set-Cookie", session_cookie(st, req, ""));
        const std::string where =
            st.hub ? st.hub->settings().public_host + st.hub->settings().hub_prefix + "home" : "";
        send_html(res,
                  message_page(PageContext{st.prefix, "", false, ""}, "Signed out",
                               where.empty() ? "Open the portal's startup URL to sign in again."
                                             : "Sign in again through the hub: " + where));
      }));
}

void add_static_routes(PortalState& st) {
  httplib::Server& srv = st.server;
  if (st.prefix != "/") {  // "/services/scaledl" -> "/services/scaledl/"
    const std::string bare = st.prefix.substr(0, st.prefix.size() - 1);
    srv.Get(bare, [&st](const httplib::Request&, httplib::Response& res) {
      res.set_redirect(st.prefix, 302);
    });
  }
  srv.Get(st.route("static/portal.css"), guarded(st, Kind::api, [](auto&, auto& res, auto&) {
            serve_static(portal_css(), "text/css; charset=utf-8", res);
          }));
  srv.Get(st.route("static/portal.js"), guarded(st, Kind::api, [](auto&, auto& res, auto&) {
            serve_static(portal_js(), "text/javascript; charset=utf-8", res);
          }));
  srv.Get(st.route("static/chart.min.js"), guarded(st, Kind::api, [&st](auto&, auto& res, auto&) {
            if (st.chart_js.empty())
              throw HttpError(404, "Chart.js not found: install Debian's libjs-chart.js");
            serve_static(st.chart_js, "text/javascript; charset=utf-8", res);
          }));
}

}  // namespace scaledl::portal
