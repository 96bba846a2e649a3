// The trace recorder: named, timed spans per thread, for a Chrome trace-event file
// (telemetry/trace_writer.h writes one; train/trace_hook.h records a training run).
//
// Off by default. While off, a TraceSpan costs one relaxed atomic load and a branch (and a
// branch when it ends). While on, a span ends by appending one event to its own thread's
// buffer: each thread registers its buffer once, under the recorder's mutex, and after that
// records under the buffer's own mutex, which nothing but trace_collect() ever contends for.
// Times are steady-clock nanoseconds; trace_clock_offset_ns() anchors them to the system clock.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace scaledl {

namespace trace_detail {
extern std::atomic<bool> enabled;
}  // namespace trace_detail

// A span's integer argument (bucket bytes, rows decoded); the key has static storage.
struct TraceArg {
  const char* key;
  int64_t value;
};
constexpr int kTraceMaxArgs = 3;
// Spans one thread keeps; later ones are counted as dropped.
constexpr size_t kTraceMaxEventsPerThread = size_t{1} << 20;

// One finished span, [begin_ns, end_ns] on the steady clock.
struct TraceEvent {
  std::string name;
  const char* category = "";  // static storage (a string literal)
  int64_t begin_ns = 0, end_ns = 0;
  TraceArg args[kTraceMaxArgs] = {};
  int num_args = 0;
};

// One thread's spans, in the order they ended (a child before its parent).
struct TraceThread {
  uint32_t tid = 0;    // 1, 2, ... in the order threads first recorded or were named
  std::string name;    // set_trace_thread_name's, or "thread <tid>"
  int sort_index = 0;  // the track's place in a viewer, lower first (the tid unless named so)
  std::vector<TraceEvent> events;
};

// What trace_collect() returns: the threads with spans, by tid.
struct TraceData {
  std::vector<TraceThread> threads;
  int64_t dropped = 0;          // spans not kept (a thread's buffer was full)
  int64_t clock_offset_ns = 0;  // add to a steady-clock time for nanoseconds since the epoch
  size_t events() const;
};

inline bool trace_enabled() noexcept {
  return trace_detail::enabled.load(std::memory_order_relaxed);
}
// Starts or stops recording (spans already recorded are kept). Starting anchors the steady
// clock to the system clock (trace_clock_offset_ns()).
void trace_enable(bool on);
// Now on the trace's clock (steady), in nanoseconds.
int64_t trace_clock_ns() noexcept;
int64_t trace_clock_ns(std::chrono::steady_clock::time_point t) noexcept;
// System-clock minus steady-clock nanoseconds, as measured when tracing was last enabled.
int64_t trace_clock_offset_ns() noexcept;
// Names the calling thread's track ("comm", "loader 0") and, with sort_index >= 0, places it
// among the tracks (lower first; the tid otherwise). Works while tracing is off. Like every
// recording call it never throws: tracing never fails the traced work.
void set_trace_thread_name(std::string_view name, int sort_index = -1) noexcept;
// Records a finished span on the calling thread (when tracing is on), for intervals measured
// elsewhere (the trainer's step phases). Up to kTraceMaxArgs args are kept.
void trace_record(std::string_view name, const char* category, int64_t begin_ns, int64_t end_ns,
                  std::initializer_list<TraceArg> args = {}) noexcept;
void trace_record(std::string_view name, const char* category,
                  std::chrono::steady_clock::time_point begin,
                  std::chrono::steady_clock::time_point end) noexcept;
// A copy of every thread's spans so far.
TraceData trace_collect();
// Forgets every span recorded so far, and the buffers of threads that have ended.
void trace_clear();

// Records [construction, destruction] on the calling thread while tracing is on. The name is
// not copied until the span ends: it must outlive the span (a literal, a node's name), so a
// temporary std::string is refused. The category is a string literal.
class TraceSpan {
 public:
  TraceSpan(std::string_view name, const char* category) noexcept {
    if (trace_enabled()) begin(name, category);
  }
  template <size_t N>
  TraceSpan(const char (&name)[N], const char* category) noexcept
      : TraceSpan(std::string_view(name), category) {}
  TraceSpan(std::string&& name, const char* category) = delete;
  ~TraceSpan() {
    if (begin_ns_ >= 0) end();
  }
  TraceSpan(const TraceSpan&) = delete;
  TraceSpan& operator=(const TraceSpan&) = delete;

  // Attaches an argument (ignored while off, and past kTraceMaxArgs).
  void arg(const char* key, int64_t value) noexcept {
    if (begin_ns_ >= 0 && num_args_ < kTraceMaxArgs) args_[num_args_++] = {key, value};
  }

 private:
  void begin(std::string_view name, const char* category) noexcept;
  void end() noexcept;

  // Only begin_ns_ is set while off (the rest is set by begin()): an idle span is one store.
  int64_t begin_ns_ = -1;  // -1: not recording
  const char* name_;
  size_t name_size_;
  const char* category_;
  int num_args_;
  TraceArg args_[kTraceMaxArgs];
};

}  // namespace scaledl
