// The Chrome trace-event JSON writer: one event per line, streamed into an atomic file.
#include "telemetry/trace_writer.h"

#include <algorithm>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"

namespace scaledl {

namespace {
// Microseconds since the epoch, rounded down (monotonic in the steady-clock time).
int64_t micros(int64_t steady_ns, int64_t offset_ns) {
  return (steady_ns + offset_ns) / 1000;
}

nlohmann::json metadata(const char* what, int pid, uint32_t tid, nlohmann::json args) {
  return {{"name", what}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", std::move(args)}};
}

// Writes the array's elements, comma-separated, one per line, in chunks of about a megabyte.
class EventStream {
 public:
  explicit EventStream(AtomicFile& f) : file_(f) {}
  void add(const nlohmann::json& e) {
    buf_ += first_ ? "\n" : ",\n";
    first_ = false;
    buf_ += e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (buf_.size() > (1u << 20)) flush();
  }
  void flush() {
    file_.write(buf_);
    buf_.clear();
  }

 private:
  AtomicFile& file_;
  std::string buf_;
  bool first_ = true;
};
}  // namespace

void write_trace_json(const std::string& path, const TraceData& data, int pid,
                      const std::string& process_name) {
  AtomicFile f(path);
  f.write("{\"traceEvents\": [");
  EventStream out(f);
  out.add(metadata("process_name", pid, 0, {{"name", process_name}}));
  out.add(metadata("process_sort_index", pid, 0, {{"sort_index", pid}}));
  const int64_t off = data.clock_offset_ns;
  std::vector<const TraceEvent*> order;
  for (const TraceThread& t : data.threads) {
    out.add(metadata("thread_name", pid, t.tid, {{"name", t.name}}));
    out.add(metadata("thread_sort_index", pid, t.tid, {{"sort_index", t.sort_index}}));
    order.clear();
    for (const TraceEvent& e : t.events) order.push_back(&e);
    std::stable_sort(order.begin(), order.end(), [](const TraceEvent* a, const TraceEvent* b) {
      return a->begin_ns != b->begin_ns ? a->begin_ns < b->begin_ns : a->end_ns > b->end_ns;
    });
    for (const TraceEvent* e : order) {
      const int64_t ts = micros(e->begin_ns, off);
      nlohmann::json j = {{"name", e->name},
                          {"cat", e->category},
                          {"ph", "X"},
                          {"ts", ts},
                          {"dur", std::max<int64_t>(0, micros(e->end_ns, off) - ts)},
                          {"pid", pid},
                          {"tid", t.tid}};
      if (e->num_args > 0) {
        nlohmann::json args = nlohmann::json::object();
        for (int i = 0; i < e->num_args; ++i) args[e->args[i].key] = e->args[i].value;
        j["args"] = std::move(args);
      }
      out.add(j);
    }
  }
  out.flush();
  // The format's otherData holds strings (chrome://tracing shows them as the trace's metadata).
  const nlohmann::json other = {{"rank", std::to_string(pid)},
                                {"events", std::to_string(data.events())},
                                {"dropped_events", std::to_string(data.dropped)},
                                {"clock", "microseconds since the Unix epoch"}};
  f.write("\n],\n\"displayTimeUnit\": \"ms\",\n\"otherData\": " + other.dump() + "}\n");
  f.commit();
}

}  // namespace scaledl
