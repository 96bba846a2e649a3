// nvprof-style tables from trace spans.
#include "telemetry/profile_table.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include "core/error.h"

namespace scaledl {

namespace {
// "1.2345s", "12.345ms", "123.45us": four or five significant digits, as nvprof.
std::string time_str(double us) {
  char buf[32];
  if (us >= 1e6)
    std::snprintf(buf, sizeof buf, "%.4fs", us / 1e6);
  else if (us >= 1e3)
    std::snprintf(buf, sizeof buf, "%.4fms", us / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2fus", us);
  return buf;
}
}  // namespace

std::vector<nlohmann::json> read_trace_spans(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("profile", path + ": cannot open; run scaledl train with --trace");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("profile", path + ": not JSON at byte " + std::to_string(e.byte) +
                               " (a trace cut short?); rerun with --trace");
  }
  if (!j.is_object() || !j.contains("traceEvents") || !j["traceEvents"].is_array())
    throw Error("profile", path + ": no traceEvents array; not a Chrome trace file");
  std::vector<nlohmann::json> spans;
  for (const nlohmann::json& e : j["traceEvents"])
    if (e.is_object() && e.value("ph", "") == "X" && e.contains("dur") && e["dur"].is_number())
      spans.push_back(e);
  return spans;
}

std::vector<ProfileRow> profile_rows(const std::vector<nlohmann::json>& spans,
                                     const std::function<std::string(const nlohmann::json&)>& key) {
  std::map<std::string, ProfileRow> by;
  for (const nlohmann::json& e : spans) {
    const std::string k = key(e);
    if (k.empty()) continue;
    const double d = e["dur"].get<double>();
    ProfileRow& r = by[k];
    if (r.calls == 0) r.name = k, r.min_us = d, r.max_us = d;
    ++r.calls;
    r.total_us += d;
    r.min_us = std::min(r.min_us, d);
    r.max_us = std::max(r.max_us, d);
  }
  std::vector<ProfileRow> rows;
  for (auto& [k, r] : by) rows.push_back(std::move(r));
  std::stable_sort(rows.begin(), rows.end(), [](const ProfileRow& a, const ProfileRow& b) {
    return a.total_us > b.total_us;
  });
  return rows;
}

std::string format_profile_table(const std::string& title, const std::vector<ProfileRow>& rows,
                                 double total_us, size_t top) {
  if (total_us <= 0)
    for (const ProfileRow& r : rows) total_us += r.total_us;
  std::string out = "==== " + title + " ====\n";
  char line[512];
  std::snprintf(line, sizeof line, "%8s %11s %8s %11s %11s %11s  %s\n", "Time(%)", "Time", "Calls",
                "Avg", "Min", "Max", "Name");
  out += line;
  const size_t n = top ? std::min(top, rows.size()) : rows.size();
  for (size_t i = 0; i < n; ++i) {
    const ProfileRow& r = rows[i];
    std::snprintf(line, sizeof line, "%7.2f%% %11s %8lld %11s %11s %11s  %s\n",
                  total_us > 0 ? 100.0 * r.total_us / total_us : 0.0, time_str(r.total_us).c_str(),
                  static_cast<long long>(r.calls), time_str(r.avg_us()).c_str(),
                  time_str(r.min_us).c_str(), time_str(r.max_us).c_str(), r.name.c_str());
    out += line;
  }
  if (n < rows.size()) out += "  ... " + std::to_string(rows.size() - n) + " more (--top 0: all)\n";
  return out;
}

}  // namespace scaledl
