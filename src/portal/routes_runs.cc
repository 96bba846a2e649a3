// Runs: the table, a run's page, the comparison, and their JSON API with the live series.
#include <string>
#include <vector>

#include "portal/context.h"
#include "portal/pages.h"
#include "portal/series.h"
#include "portal/tensorboard.h"
#include "telemetry/run_status.h"

namespace scaledl::portal {

namespace {

constexpr size_t kMaxCompare = 16;

PageContext page_context(const PortalState& st, const Session& s) {
  return {st.prefix, s.user, s.admin, s.csrf};
}

std::vector<RunInfo> visible_runs(const PortalState& st, const Viewer& v) {
  std::vector<RunInfo> out;
  const double now = unix_now();
  for (const RunRef& ref : st.index.scan())
    if (v.may_see(ref)) out.push_back(load_run(ref, now, st.host));
  return out;
}

nlohmann::json series_json(const PortalState& st, const RunRef& ref, const httplib::Request& req) {
  const std::optional<SeriesCursor> since = parse_cursor(req.get_param_value("since"));
  if (!since) throw HttpError(400, "since: expected the 'next' value of the previous answer");
  Fd dir = open_run_dir(ref.root, ref.id);
  if (!dir.ok()) throw HttpError(404, "the run folder is gone");
  nlohmann::json j = read_series(dir.get(), *since);
  j["state"] = load_run(ref, unix_now(), st.host).state.state;
  return j;
}

void api_run(PortalState& st, const httplib::Request& req, httplib::Response& res,
             const Session& s) {
  const std::string rest = req.matches[1];
  const Viewer v = st.viewer(s);
  // "<id>/series" is the series of run <id>, unless the whole of it is itself a run's id.
  const std::string suffix = "/series";
  if (rest.size() > suffix.size() &&
      rest.compare(rest.size() - suffix.size(), suffix.size(), suffix) == 0) {
    RunRef ref;
    const std::string id = rest.substr(0, rest.size() - suffix.size());
    if (st.index.find(id, &ref) == RunIndex::Lookup::found) {
      const RunRef visible = visible_run(st, v, id);
      return send_json(res, series_json(st, visible, req));
    }
  }
  const RunRef ref = visible_run(st, v, rest);
  send_json(res, run_json(load_run(ref, unix_now(), st.host), true));
}

std::vector<RunInfo> compare_runs(const PortalState& st, const httplib::Request& req,
                                  const Viewer& v) {
  const size_t n = req.get_param_value_count("run");
  if (n == 0) throw HttpError(400, "compare: pick runs with ?run=ID&run=ID (or tick them on Runs)");
  if (n > kMaxCompare)
    throw HttpError(400, "compare: at most " + std::to_string(kMaxCompare) + " runs at once");
  std::vector<RunInfo> runs;
  const double now = unix_now();
  for (size_t i = 0; i < n; ++i)
    runs.push_back(load_run(visible_run(st, v, req.get_param_value("run", i)), now, st.host));
  return runs;
}

}  // namespace

void add_run_routes(PortalState& st) {
  httplib::Server& srv = st.server;
  srv.Get(st.route(""), guarded(st, Kind::page, [&st](auto&, auto& res, const Session& s) {
            send_html(res, runs_page(page_context(st, s), visible_runs(st, st.viewer(s))));
          }));
  srv.Get(st.route("run/(.+)"),
          guarded(st, Kind::page, [&st](auto& req, auto& res, const Session& s) {
            const RunRef ref = visible_run(st, st.viewer(s), req.matches[1]);
            const RunInfo info = load_run(ref, unix_now(), st.host);
            send_html(res, run_page(page_context(st, s), info, st.tensorboards->why_missing()));
          }));
  srv.Get(st.route("compare"),
          guarded(st, Kind::page, [&st](auto& req, auto& res, const Session& s) {
            send_html(res, compare_page(page_context(st, s), compare_runs(st, req, st.viewer(s))));
          }));
  srv.Get(st.route("api/runs"), guarded(st, Kind::api, [&st](auto&, auto& res, const Session& s) {
            nlohmann::json list = nlohmann::json::array();
            for (const RunInfo& r : visible_runs(st, st.viewer(s)))
              list.push_back(run_json(r, false));
            send_json(res, {{"user", s.user}, {"admin", s.admin}, {"runs", list}});
          }));
  srv.Get(st.route("api/runs/(.+)"),
          guarded(st, Kind::api,
                  [&st](auto& req, auto& res, const Session& s) { api_run(st, req, res, s); }));
}

}  // namespace scaledl::portal
