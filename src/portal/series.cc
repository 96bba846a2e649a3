// Reading steps.jsonl, evals.jsonl and monitor.jsonl from a byte offset.
#include "portal/series.h"

#include <charconv>
#include <functional>

#include "portal/run_files.h"

namespace scaledl::portal {

namespace {

bool parse_size(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 19) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Calls `each` with every complete line after `offset`; returns the offset after the last one.
// `reset` is set when the file is shorter than `offset` (rewritten): reading starts over.
size_t read_lines(int dir_fd, const char* name, size_t offset, size_t max_bytes, bool* reset,
                  const std::function<void(const nlohmann::json&)>& each) {
  size_t size = 0;
  std::optional<std::string> text = read_file_at(dir_fd, name, offset, max_bytes, &size);
  if (!text) return offset;  // absent (yet): nothing new
  if (size < offset) {
    *reset = true;
    return 0;
  }
  size_t pos = 0;
  for (;;) {
    const size_t nl = text->find('\n', pos);
    if (nl == std::string::npos) break;
    const std::string_view line(text->data() + pos, nl - pos);
    pos = nl + 1;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) each(j);
  }
  if (pos == 0 && text->size() == max_bytes) return offset + text->size();  // no line ends
  return offset + pos;
}

bool number(const nlohmann::json& j, const char* k, double* v) {
  if (!j.contains(k) || !j[k].is_number()) return false;
  *v = j[k].get<double>();
  return true;
}

void add_point(nlohmann::json& series, double x, double y) {
  series.push_back(nlohmann::json::array({x, y}));
}

void add_monitor(const nlohmann::json& m, nlohmann::json& out) {
  double t, v;
  if (!number(m, "time", &t)) return;
  const std::pair<const char*, const char*> keys[] = {{"cpu", "cpu_process_pct"},
                                                      {"rss", "rss_mb"},
                                                      {"disk_read", "disk_read_mb_s"},
                                                      {"disk_write", "disk_write_mb_s"}};
  for (const auto& [name, key] : keys)
    if (number(m, key, &v)) add_point(out[name], t, v);
  if (m.contains("net") && m["net"].is_object()) {
    double rx = 0, tx = 0, x;
    for (const auto& iface : m["net"]) {
      if (number(iface, "rx_mb_s", &x)) rx += x;
      if (number(iface, "tx_mb_s", &x)) tx += x;
    }
    add_point(out["net_rx"], t, rx);
    add_point(out["net_tx"], t, tx);
  }
}

}  // namespace

std::string SeriesCursor::str() const {
  return std::to_string(steps) + "." + std::to_string(evals) + "." + std::to_string(monitor);
}

std::optional<SeriesCursor> parse_cursor(std::string_view s) {
  SeriesCursor c;
  if (s.empty()) return c;
  const size_t a = s.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  const size_t b = s.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  if (!parse_size(s.substr(0, a), &c.steps) || !parse_size(s.substr(a + 1, b - a - 1), &c.evals) ||
      !parse_size(s.substr(b + 1), &c.monitor))
    return std::nullopt;
  return c;
}

nlohmann::json read_series(int dir_fd, const SeriesCursor& since, size_t max_bytes) {
  nlohmann::json out = {{"since", since.str()},
                        {"reset", false},
                        {"loss", nlohmann::json::array()},
                        {"ips", nlohmann::json::array()},
                        {"top1", nlohmann::json::array()}};
  nlohmann::json monitor = nlohmann::json::object();
  for (const char* k : {"cpu", "rss", "disk_read", "disk_write", "net_rx", "net_tx"})
    monitor[k] = nlohmann::json::array();
  bool reset = false;
  SeriesCursor next;
  next.steps = read_lines(dir_fd, "steps.jsonl", since.steps, max_bytes, &reset,
                          [&](const nlohmann::json& j) {
                            double step, v;
                            if (!number(j, "step", &step)) return;
                            if (number(j, "loss", &v)) add_point(out["loss"], step, v);
                            if (number(j, "images_per_sec", &v)) add_point(out["ips"], step, v);
                          });
  next.evals = read_lines(dir_fd, "evals.jsonl", since.evals, max_bytes, &reset,
                          [&](const nlohmann::json& j) {
                            double step, v;
                            if (number(j, "step", &step) && number(j, "top1", &v))
                              add_point(out["top1"], step, v);
                          });
  next.monitor = read_lines(dir_fd, "monitor.jsonl", since.monitor, max_bytes, &reset,
                            [&](const nlohmann::json& j) { add_monitor(j, monitor); });
  if (reset) {  // a log was rewritten: the client drops what it has and reads from the start
    out = read_series(dir_fd, SeriesCursor{}, max_bytes);
    out["reset"] = true;
    return out;
  }
  out["monitor"] = monitor;
  out["next"] = next.str();
  return out;
}

}  // namespace scaledl::portal
