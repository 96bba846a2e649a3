// The portal's server: state, limits, security headers, error answers, and the routes.
#include <unistd.h>

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "portal/assets.h"
#include "portal/context.h"
#include "portal/pages.h"
#include "portal/tensorboard.h"
#include "portal/web_text.h"
#include "telemetry/run_status.h"

namespace scaledl::portal {

namespace {

constexpr size_t kMaxHeaders = 100;
constexpr const char* kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'";

std::string regex_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

bool is_api(const PortalState& st, const httplib::Request& req) {
  return req.path.rfind(st.prefix + "api/", 0) == 0 ||
         req.path.rfind(st.prefix + "static/", 0) == 0;
}

void answer_error(const PortalState& st, const httplib::Request& req, httplib::Response& res,
                  int status, const std::string& message) {
  res.status = status;
  if (is_api(st, req)) {
    send_json(res, {{"error", message}, {"status", status}}, status);
  } else {
    const std::string title = status == 401   ? "Not signed in"
                              : status == 403 ? "Not allowed"
                              : status == 404 ? "Not found"
                              : status < 500  ? "Bad request"
                                              : "Server error";
    send_html(res, message_page(PageContext{st.prefix, "", false, ""}, title, message), status);
  }
}

void set_limits_and_handlers(PortalState& st) {
  httplib::Server& srv = st.server;
  srv.set_payload_max_length(kMaxBody);
  srv.set_read_timeout(15);
  srv.set_write_timeout(30);
  srv.set_keep_alive_timeout(10);
  srv.set_pre_routing_handler([&st](const httplib::Request& req, httplib::Response& res) {
    if (req.headers.size() > kMaxHeaders) {
      answer_error(st, req, res, 431, "too many header fields");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "POST" && req.method != "HEAD") {
      answer_error(st, req, res, 405, "only GET and POST are served here");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  srv.set_exception_handler(
      [&st](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const HttpError& e) {
          answer_error(st, req, res, e.status(), e.what());
        } catch (const Error& e) {
          answer_error(st, req, res, 400, e.message());
        } catch (const std::exception& e) {
          log_warn(std::string("[portal] internal error on ") + req.method + " " + req.path + ": " +
                   e.what());
          answer_error(st, req, res, 500, "internal error; it is in the portal's log");
        } catch (...) {
          answer_error(st, req, res, 500, "internal error");
        }
      });
  srv.set_error_handler(httplib::Server::HandlerWithResponse([&st](const httplib::Request& req,
                                                                   httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    answer_error(st, req, res, res.status,
                 res.status == 404 ? "no such page"
                                   : "request refused (HTTP " + std::to_string(res.status) + ")");
    return httplib::Server::HandlerResponse::Handled;
  }));
  srv.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    const std::pair<const char*, const char*> headers[] = {{"X-Content-Type-Options", "nosniff"},
                                                           {"Content-Security-Policy", kCsp},
                                                           {"X-Frame-Options", "SAMEORIGIN"},
                                                           {"Referrer-Policy", "same-origin"},
                                                           {"Cache-Control", "no-store"}};
    for (const auto& [k, v] : headers)
      if (!res.has_header(k)) res.set_header(k, v);
  });
}

}  // namespace

PortalState::PortalState(PortalOptions o)
    : opt(std::move(o)),
      prefix(opt.hub ? opt.hub->service_prefix : "/"),
      index(opt.runs),
      sessions(opt.session_ttl_s) {
  if (opt.runs.empty()) throw Error("portal", "no --runs folder: give at least one");
  if (opt.hub)
    hub = std::make_unique<HubClient>(*opt.hub);
  else if (opt.token.empty())
    opt.token = random_hex(32);
  chart_js = load_chart_js(opt.chart_js_path.empty() ? kDefaultChartJs : opt.chart_js_path);
  if (chart_js.empty())
    log_warn("[portal] Chart.js not found at " +
             (opt.chart_js_path.empty() ? std::string(kDefaultChartJs) : opt.chart_js_path) +
             "; pages show no curves (apt-get install libjs-chart.js)");
  host = host_name();
  process_user = user_name(::geteuid());
  is_root = ::geteuid() == 0;
  tensorboards =
      std::make_unique<TensorBoards>(opt.tensorboard, opt.tensorboard_missing, prefix, is_root);
}

PortalState::~PortalState() = default;

bool PortalState::is_admin(const std::string& user) const {
  return std::find(opt.admins.begin(), opt.admins.end(), user) != opt.admins.end();
}

std::string PortalState::route(const std::string& pattern) const {
  return regex_escape(prefix) + pattern;
}

Portal::Portal(PortalOptions options) : state_(std::make_unique<PortalState>(std::move(options))) {
  PortalState& st = *state_;
  set_limits_and_handlers(st);
  add_static_routes(st);
  add_auth_routes(st);
  add_run_routes(st);
  add_job_routes(st);
  add_tensorboard_routes(st);
}

Portal::~Portal() {
  stop();
  state_->tensorboards->stop_all();
}

int Portal::bind() {
  PortalState& st = *state_;
  st.port = st.opt.port == 0
                ? st.server.bind_to_any_port(st.opt.bind)
                : (st.server.bind_to_port(st.opt.bind, st.opt.port) ? st.opt.port : -1);
  if (st.port <= 0)
    throw Error("portal", "cannot listen on " + st.opt.bind + ":" + std::to_string(st.opt.port) +
                              " (taken, or not an address of this machine); pick another --port "
                              "or --bind");
  return st.port;
}

void Portal::serve() {
  state_->server.listen_after_bind();
}

void Portal::stop() {
  if (state_->server.is_running()) state_->server.stop();
}

const std::string& Portal::prefix() const {
  return state_->prefix;
}
const std::string& Portal::token() const {
  return state_->opt.token;
}

}  // namespace scaledl::portal
