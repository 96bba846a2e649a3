// /tensorboard/<run id>/...: the run's own TensorBoard behind the portal's sign-in.
#include "core/error.h"
#include "portal/context.h"
#include "portal/tensorboard.h"
#include "portal/web_text.h"

namespace scaledl::portal {

namespace {

// Splits "alice/r1/data/runs" into the run ("alice/r1": the shortest leading path that is a
// run folder) and what follows ("/data/runs").
RunRef split_run(const PortalState& st, const Viewer& v, const std::string& rest,
                 std::string* tail) {
  size_t end = 0;
  for (int components = 0; components < 3; ++components) {
    end = rest.find('/', end + (components ? 1 : 0));
    const std::string id = rest.substr(0, end);
    RunRef ref;
    if (st.index.find(id, &ref) == RunIndex::Lookup::found) {
      *tail = end == std::string::npos ? "" : rest.substr(end);
      return visible_run(st, v, id);
    }
    if (end == std::string::npos) break;
  }
  return visible_run(st, v, rest.substr(0, rest.find('/')));  // 400 or 404, as for any run
}

void tensorboard(PortalState& st, const httplib::Request& req, httplib::Response& res,
                 const Session& s) {
  std::string tail;
  const RunRef ref = split_run(st, st.viewer(s), req.matches[1], &tail);
  if (tail.empty()) {  // TensorBoard's pages are relative to the folder: end it with '/'
    res.set_redirect(st.prefix + "tensorboard/" + url_encode(ref.id, true) + "/", 302);
    return;
  }
  if (!st.tensorboards->why_missing().empty())
    throw HttpError(404, "TensorBoard: " + st.tensorboards->why_missing());
  int port = 0;
  try {
    port = st.tensorboards->port_for(ref);
  } catch (const Error& e) {
    throw HttpError(502, e.message());
  }
  proxy_to(port, req, res);
  // TensorBoard's own page needs its own script rules; it still may not be framed elsewhere.
  if (!res.has_header("Content-Security-Policy"))
    res.set_header("Content-Security-Policy", "frame-ancestors 'self'");
}

}  // namespace

void add_tensorboard_routes(PortalState& st) {
  auto handler = [&st](const httplib::Request& req, httplib::Response& res, const Session& s) {
    tensorboard(st, req, res, s);
  };
  st.server.Get(st.route("tensorboard/(.+)"), guarded(st, Kind::page, handler));
  st.server.Post(st.route("tensorboard/(.+)"),
                 guarded(st, Kind::api, handler, PostCheck::origin_required));
}

}  // namespace scaledl::portal
