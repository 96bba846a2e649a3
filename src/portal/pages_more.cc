// The comparison, the jobs table and the submit form.
#include <map>
#include <set>

#include "portal/pages.h"
#include "portal/web_text.h"

namespace scaledl::portal {

namespace {

std::string field(const std::vector<std::pair<std::string, std::string>>& values,
                  const std::string& name, const std::string& fallback = "") {
  for (const auto& [k, v] : values)
    if (k == name) return v;
  return fallback;
}

std::string text_input(const std::vector<std::pair<std::string, std::string>>& values,
                       const std::string& name, const std::string& label,
                       const std::string& fallback, const std::string& hint) {
  return "<label for=\"f-" + name + "\">" + label + " <span class=\"note\">" + hint +
         "</span></label><input id=\"f-" + name + "\" name=\"" + name + "\" value=\"" +
         html_escape(field(values, name, fallback)) + "\">";
}

}  // namespace

std::string compare_page(const PageContext& c, const std::vector<RunInfo>& runs) {
  // Rows: every flattened summary key any run has (config.* included), in first-seen order.
  std::vector<std::string> keys;
  std::set<std::string> seen;
  std::vector<std::map<std::string, std::string>> values;
  for (const RunInfo& r : runs) {
    std::map<std::string, std::string> v;
    v["state"] = r.state.state;
    v["owner"] = r.ref.owner;
    for (const auto& [k, x] : flatten_scalars(r.summary)) v[k] = x;
    for (const auto& [k, x] : v)
      if (seen.insert(k).second) keys.push_back(k);
    values.push_back(std::move(v));
  }
  std::string h = "<h1>Compare " + std::to_string(runs.size()) + " runs</h1>";
  h += "<p class=\"note\">Values that differ between the runs are marked.</p>";
  h += "<table id=\"compare\"><thead><tr><th>key</th>";
  for (const RunInfo& r : runs)
    h += "<th><a href=\"" + html_escape(c.base + "run/" + url_encode(r.ref.id, true)) + "\">" +
         html_escape(r.ref.id) + "</a></th>";
  h += "</tr></thead><tbody>\n";
  for (const std::string& k : keys) {
    std::set<std::string> distinct;
    for (const auto& v : values) {
      const auto it = v.find(k);
      distinct.insert(it == v.end() ? std::string("\x01missing") : it->second);
    }
    const bool differs = distinct.size() > 1;
    h += "<tr data-key=\"" + html_escape(k) + "\"><th>" + html_escape(k) + "</th>";
    for (const auto& v : values) {
      const auto it = v.find(k);
      h += std::string("<td") + (differs ? " class=\"differs\"" : "") + ">" +
           (it == v.end() ? "" : html_escape(it->second)) + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</tbody></table>";
  h += "<p class=\"note\"><span id=\"poll-status\" class=\"error\"></span></p>";
  h += "<p class=\"note chart-missing hidden\">Chart.js could not be loaded (libjs-chart.js).</p>";
  h += "<div class=\"charts\">";
  for (const auto& [id, title] :
       {std::pair{"chart-loss", "loss"}, {"chart-top1", "top-1 %"}, {"chart-ips", "images/s"}})
    h += std::string("<div class=\"chart\"><h3>") + title + "</h3><canvas id=\"" + id +
         "\"></canvas></div>";
  h += "</div>";
  nlohmann::json ids = nlohmann::json::array();
  for (const RunInfo& r : runs) ids.push_back(r.ref.id);
  return layout(c, "compare", "Compare", h, "data-runs=\"" + html_escape(ids.dump()) + "\"", true);
}

std::string jobs_page(const PageContext& c, const std::vector<JobRow>& jobs,
                      const std::string& submitted, const std::string& error) {
  std::string h =
      "<h1>" + std::string(c.admin ? "Slurm jobs (all users)" : "Your Slurm jobs") + "</h1>";
  if (!submitted.empty())
    h += "<p id=\"submitted\">Submitted job <b>" + html_escape(submitted) + "</b>.</p>";
  if (!error.empty()) h += "<p class=\"error\">" + html_escape(error) + "</p>";
  h += "<input id=\"filter\" type=\"search\" placeholder=\"filter jobs (any text)\">";
  h += "<table id=\"jobs\"><thead><tr>";
  for (const char* k : {"id", "name", "user", "state", "elapsed", "partition", "nodes"})
    h += std::string("<th data-key=\"") + k + "\">" + k + "</th>";
  h += "<th>run folder</th><th>log</th></tr></thead><tbody>\n";
  for (const JobRow& row : jobs) {
    const cluster::JobInfo& j = row.job;
    h += "<tr data-job=\"" + html_escape(j.id) + "\">";
    const std::pair<const char*, const std::string*> cells[] = {
        {"id", &j.id},       {"name", &j.name},       {"user", &j.user},
        {"state", &j.state}, {"elapsed", &j.elapsed}, {"partition", &j.partition},
        {"nodes", &j.nodes}};
    for (const auto& [k, v] : cells)
      h += std::string("<td data-key=\"") + k + "\" class=\"" + k + "\"" +
           (std::string(k) == "state" && !j.reason.empty()
                ? " title=\"" + html_escape(j.reason) + "\""
                : "") +
           ">" + html_escape(*v) + "</td>";
    h += "<td class=\"run-dir\">";
    if (!row.run_id.empty())
      h += "<a href=\"" + html_escape(c.base + "run/" + url_encode(row.run_id, true)) + "\">" +
           html_escape(j.run_dir) + "</a>";
    else
      h += html_escape(j.run_dir);
    h += "</td><td class=\"log\">" + html_escape(j.log) + "</td></tr>\n";
  }
  h += "</tbody></table>";
  if (jobs.empty()) h += "<p class=\"note\">No jobs.</p>";
  return layout(c, "jobs", "Jobs", h);
}

std::string submit_page(const PageContext& c,
                        const std::vector<std::pair<std::string, std::string>>& v,
                        const std::string& error, const std::string& note) {
  std::string h = "<h1>Submit a job</h1>";
  if (!error.empty()) h += "<p class=\"error\">" + html_escape(error) + "</p>";
  if (!note.empty()) h += "<p class=\"note\">" + html_escape(note) + "</p>";
  h += "<form id=\"submit\" method=\"post\" action=\"" + html_escape(c.base) + "submit\">";
  h += "<input type=\"hidden\" name=\"_csrf\" value=\"" + html_escape(c.csrf) + "\">";
  h += "<label for=\"f-kind\">kind</label><select id=\"f-kind\" name=\"kind\">";
  const std::string kind = field(v, "kind", "train");
  for (const char* k : {"train", "infer", "loadgen"})
    h += std::string("<option") + (kind == k ? " selected" : "") + ">" + k + "</option>";
  h += "</select>";
  h += text_input(v, "args", "flags", "",
                  "the subcommand's flags, quoted as in a shell, e.g. --model resnet50 --data "
                  "records:/data/imagenet");
  h += text_input(v, "nodes", "nodes", "1", "");
  h += text_input(v, "ntasks_per_node", "tasks per node", "1", "one rank per task");
  h += text_input(v, "cpus_per_task", "CPUs per task", "0", "0: Slurm's default");
  h += text_input(v, "gpus_per_node", "GPUs per node", "0", "");
  h += text_input(v, "mem", "memory", "", "e.g. 16G; empty: the partition's default");
  h += text_input(v, "partition", "partition", "", "empty: the default partition");
  h += text_input(v, "time", "time limit", "", "e.g. 01:00:00; empty: the partition's default");
  h += "<p><button>Submit</button></p></form>";
  return layout(c, "submit", "Submit", h);
}

}  // namespace scaledl::portal
