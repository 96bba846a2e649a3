// The layout, the runs table and a run's page.
#include "portal/pages.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "portal/web_text.h"

namespace scaledl::portal {

namespace {

// Metrics shown first when present (the rest follow in name order).
const char* const kLeadMetrics[] = {"top1",      "top5",   "images_per_sec", "final_loss",
                                    "eval_loss", "epochs", "wall_seconds",   "world_size"};

std::string run_href(const PageContext& c, const std::string& id) {
  return c.base + "run/" + url_encode(id, true);
}

void flatten_into(const nlohmann::json& j, const std::string& prefix, int depth,
                  std::vector<std::pair<std::string, std::string>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    const nlohmann::json& v = it.value();
    if (v.is_object()) {
      if (depth > 1) flatten_into(v, key, depth - 1, out);
    } else if (v.is_number()) {
      out.emplace_back(key, format_number(v.get<double>()));
    } else if (v.is_string()) {
      out.emplace_back(key, v.get<std::string>());
    } else if (v.is_boolean() || v.is_null()) {
      out.emplace_back(key, v.dump());
    }
  }
}

std::string state_span(const RunInfo& r) {
  return "<span class=\"state-" + html_escape(r.state.state) + "\">" + html_escape(r.state.state) +
         "</span>";
}

std::string key_value_table(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string h = "<table class=\"kv\"><tbody>";
  for (const auto& [k, v] : rows)
    h += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>";
  return h + "</tbody></table>";
}

std::string chart_box(const std::string& id, const std::string& title) {
  return "<div class=\"chart\"><h3>" + title + "</h3><canvas id=\"" + id + "\"></canvas></div>";
}

}  // namespace

std::string format_number(double v) {
  char buf[64];
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::vector<std::pair<std::string, std::string>> flatten_scalars(const nlohmann::json& j,
                                                                 int depth) {
  std::vector<std::pair<std::string, std::string>> out;
  if (j.is_object()) flatten_into(j, "", depth, out);
  return out;
}

std::string layout(const PageContext& c, const std::string& page, const std::string& title,
                   const std::string& body, const std::string& attrs, bool charts) {
  const std::string b = html_escape(c.base);
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  h += "<title>" + html_escape(title) + " - scaledl</title>";
  h += "<link rel=\"stylesheet\" href=\"" + b + "static/portal.css\">";
  if (charts) h += "<script src=\"" + b + "static/chart.min.js\"></script>";
  h += "<script src=\"" + b + "static/portal.js\" defer></script></head>\n";
  h += "<body data-page=\"" + html_escape(page) + "\" data-base=\"" + b + "\" " + attrs + ">\n";
  h += "<header><a href=\"" + b + "\"><b>scaledl</b></a><a href=\"" + b + "\">Runs</a><a href=\"" +
       b + "jobs\">Jobs</a><a href=\"" + b + "submit\">Submit</a>";
  if (!c.user.empty()) {
    h += "<span class=\"who\">" + html_escape(c.user) + (c.admin ? " (admin)" : "") + "</span>";
    h += "<form method=\"post\" action=\"" + b +
         "logout\"><input type=\"hidden\" name=\"_csrf\" value=\"" + html_escape(c.csrf) +
         "\"><button>Sign out</button></form>";
  }
  h += "</header>\n<main>\n" + body + "\n</main></body></html>\n";
  return h;
}

std::string message_page(const PageContext& c, const std::string& title, const std::string& text) {
  return layout(c, "message", title,
                "<h1>" + html_escape(title) + "</h1><p>" + html_escape(text) + "</p>");
}

std::string runs_page(const PageContext& c, const std::vector<RunInfo>& runs) {
  std::set<std::string> all;
  for (const RunInfo& r : runs)
    for (const auto& [k, v] : summary_metrics(r.summary)) all.insert(k);
  std::vector<std::string> metrics;
  for (const char* k : kLeadMetrics)
    if (all.erase(k)) metrics.push_back(k);
  metrics.insert(metrics.end(), all.begin(), all.end());

  std::string h = "<h1>Runs</h1>";
  h += "<input id=\"filter\" type=\"search\" placeholder=\"filter runs (any text)\">";
  h += "<form method=\"get\" action=\"" + html_escape(c.base) + "compare\">";
  h += "<table id=\"runs\"><thead><tr><th></th>";
  for (const char* k : {"id", "owner", "state", "model", "step"})
    h +=
        std::string("<th data-key=\"") + k + "\">" + (std::string(k) == "id" ? "run" : k) + "</th>";
  for (const std::string& m : metrics)
    h += "<th data-key=\"" + html_escape(m) + "\">" + html_escape(m) + "</th>";
  h += "</tr></thead><tbody>\n";
  for (const RunInfo& r : runs) {
    const std::string id = html_escape(r.ref.id);
    h += "<tr data-run=\"" + id + "\"><td><input type=\"checkbox\" name=\"run\" value=\"" + id +
         "\"></td>";
    h += "<td data-key=\"id\"><a href=\"" + html_escape(run_href(c, r.ref.id)) + "\">" + id +
         "</a></td>";
    h += "<td data-key=\"owner\">" + html_escape(r.ref.owner) + "</td>";
    h += "<td data-key=\"state\" title=\"" + html_escape(r.state.line) + "\">" + state_span(r) +
         "</td>";
    h += "<td data-key=\"model\">" + html_escape(r.model) + "</td>";
    h += "<td data-key=\"step\" class=\"num\" data-value=\"" +
         (r.step >= 0 ? std::to_string(r.step) : "") + "\">" +
         (r.step >= 0 ? std::to_string(r.step) : "") + "</td>";
    const auto values = summary_metrics(r.summary);
    for (const std::string& m : metrics) {
      std::string v;
      for (const auto& [k, x] : values)
        if (k == m) v = format_number(x);
      h += "<td data-key=\"" + html_escape(m) + "\" class=\"num\" data-value=\"" + v + "\">" + v +
           "</td>";
    }
    h += "</tr>\n";
  }
  h += "</tbody></table><p><button>Compare selected</button></p></form>";
  if (runs.empty())
    h += "<p class=\"note\">No runs yet" + std::string(c.admin ? "" : " of yours") +
         ". A run folder is one holding summary.json or status.json.</p>";
  return layout(c, "runs", "Runs", h);
}

std::string run_page(const PageContext& c, const RunInfo& r, const std::string& tensorboard_note) {
  const std::string b = html_escape(c.base), id = html_escape(r.ref.id);
  std::string h = "<h1>" + id + "</h1><p>" + state_span(r) + " " + html_escape(r.state.line) +
                  "</p><p class=\"note\">owner " + html_escape(r.ref.owner) +
                  (r.model.empty() ? "" : ", model " + html_escape(r.model)) + ", folder " +
                  html_escape(r.ref.dir) + "</p><p>";
  h += "<a href=\"" + b + "compare?run=" + html_escape(url_encode(r.ref.id)) + "\">Compare</a> · ";
  if (tensorboard_note.empty())
    h += "<a href=\"" + b + "tensorboard/" + html_escape(url_encode(r.ref.id, true)) +
         "/\">TensorBoard</a>";
  else
    h += "<span class=\"note\">TensorBoard: " + html_escape(tensorboard_note) + "</span>";
  if (!r.job_id.empty())
    h += " · <a href=\"" + b + "jobs?job=" + html_escape(url_encode(r.job_id)) + "\">Slurm job " +
         html_escape(r.job_id) + "</a>";
  h += "</p>";
  h += "<p class=\"note\">Loss points plotted: <span id=\"points-loss\">0</span> "
       "<span id=\"poll-status\" class=\"error\"></span></p>";
  h += "<p class=\"note chart-missing hidden\">Chart.js could not be loaded (Debian package "
       "libjs-chart.js): the curves are not drawn, the counts still update.</p>";
  h += "<div class=\"charts\">" + chart_box("chart-loss", "loss") +
       chart_box("chart-top1", "top-1 % (evaluations)") + chart_box("chart-ips", "images/s") +
       "</div>";
  h += "<div id=\"monitor-charts\" class=\"charts hidden\">" +
       chart_box("chart-cpu", "CPU % (process)") + chart_box("chart-mem", "RSS MB") +
       chart_box("chart-io", "disk and network MB/s") + "</div>";
  h += "<h2>Summary</h2>" + (r.summary.is_object() ? key_value_table(flatten_scalars(r.summary))
                                                   : "<p class=\"note\">no summary.json yet</p>");
  h += "<h2>Status</h2>" + (r.status.is_object() ? key_value_table(flatten_scalars(r.status))
                                                 : "<p class=\"note\">no status.json</p>");
  const std::string attrs =
      "data-run=\"" + id + "\" data-state=\"" + html_escape(r.state.state) + "\"";
  return layout(c, "run", r.ref.id, h, attrs, true);
}

}  // namespace scaledl::portal
