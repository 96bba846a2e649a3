// The trace recorder: per-thread span buffers registered with one process-wide registry.
#include "core/trace.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>

namespace scaledl {

namespace trace_detail {
std::atomic<bool> enabled{false};
}  // namespace trace_detail

namespace {
using Clock = std::chrono::steady_clock;

// One thread's spans. Its mutex is taken by the thread per span and by trace_collect().
struct Buffer {
  std::mutex mu;
  uint32_t tid = 0;
  std::string name;
  int sort_index = -1;            // -1: the tid
  std::deque<TraceEvent> events;  // grows without moving what it holds
  int64_t dropped = 0;
};

// Every thread's buffer; a buffer outlives its thread (the registry shares it) until cleared.
struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<Buffer>> buffers;
  uint32_t next_tid = 1;
  std::atomic<int64_t> clock_offset_ns{0};
};

Registry& registry() {
  static Registry r;
  return r;
}

// The calling thread's buffer, registered on first use.
Buffer& my_buffer() {
  thread_local std::shared_ptr<Buffer> mine;
  if (!mine) {
    auto b = std::make_shared<Buffer>();
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    b->tid = r.next_tid++;
    b->name = "thread " + std::to_string(b->tid);
    r.buffers.push_back(b);
    mine = std::move(b);
  }
  return *mine;
}

// Appends a span to the calling thread's buffer; a span that cannot be stored (out of memory)
// is lost, never an error of the traced work.
void append(std::string_view name, const char* category, int64_t begin_ns, int64_t end_ns,
            const TraceArg* args, int num_args) noexcept {
  try {
    Buffer& b = my_buffer();
    std::lock_guard<std::mutex> lock(b.mu);
    if (b.events.size() >= kTraceMaxEventsPerThread) {
      ++b.dropped;
      return;
    }
    TraceEvent& e = b.events.emplace_back();
    e.name.assign(name);
    e.category = category;
    e.begin_ns = begin_ns;
    e.end_ns = end_ns;
    e.num_args = std::min(num_args, kTraceMaxArgs);
    std::copy(args, args + e.num_args, e.args);
  } catch (...) {
  }
}
}  // namespace

size_t TraceData::events() const {
  size_t n = 0;
  for (const TraceThread& t : threads) n += t.events.size();
  return n;
}

void trace_enable(bool on) {
  if (on) {
    const int64_t sys = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    registry().clock_offset_ns.store(sys - trace_clock_ns(), std::memory_order_relaxed);
  }
  trace_detail::enabled.store(on, std::memory_order_relaxed);
}

int64_t trace_clock_ns() noexcept {
  return trace_clock_ns(Clock::now());
}

int64_t trace_clock_ns(Clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int64_t trace_clock_offset_ns() noexcept {
  return registry().clock_offset_ns.load(std::memory_order_relaxed);
}

void set_trace_thread_name(std::string_view name, int sort_index) noexcept {
  try {
    Buffer& b = my_buffer();
    std::lock_guard<std::mutex> lock(b.mu);
    b.name.assign(name);
    b.sort_index = sort_index;
  } catch (...) {  // out of memory: the track keeps its default name
  }
}

void trace_record(std::string_view name, const char* category, int64_t begin_ns, int64_t end_ns,
                  std::initializer_list<TraceArg> args) noexcept {
  if (!trace_enabled()) return;
  append(name, category, begin_ns, end_ns, args.begin(), static_cast<int>(args.size()));
}

void trace_record(std::string_view name, const char* category, Clock::time_point begin,
                  Clock::time_point end) noexcept {
  if (!trace_enabled()) return;
  append(name, category, trace_clock_ns(begin), trace_clock_ns(end), nullptr, 0);
}

TraceData trace_collect() {
  TraceData out;
  out.clock_offset_ns = trace_clock_offset_ns();
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const std::shared_ptr<Buffer>& b : r.buffers) {
    std::lock_guard<std::mutex> block(b->mu);
    out.dropped += b->dropped;
    if (b->events.empty()) continue;
    const int sort_index = b->sort_index >= 0 ? b->sort_index : static_cast<int>(b->tid);
    out.threads.push_back({b->tid, b->name, sort_index, {b->events.begin(), b->events.end()}});
  }
  std::sort(out.threads.begin(), out.threads.end(),
            [](const TraceThread& a, const TraceThread& b) { return a.tid < b.tid; });
  return out;
}

void trace_clear() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  // A buffer only the registry holds belongs to a thread that has ended.
  std::erase_if(r.buffers, [](const std::shared_ptr<Buffer>& b) { return b.use_count() == 1; });
  for (const std::shared_ptr<Buffer>& b : r.buffers) {
    std::lock_guard<std::mutex> block(b->mu);
    b->events.clear();
    b->events.shrink_to_fit();  // a long trace's memory goes back
    b->dropped = 0;
  }
}

void TraceSpan::begin(std::string_view name, const char* category) noexcept {
  name_ = name.data();
  name_size_ = name.size();
  category_ = category;
  num_args_ = 0;
  begin_ns_ = trace_clock_ns();
}

void TraceSpan::end() noexcept {
  append({name_, name_size_}, category_, begin_ns_, trace_clock_ns(), args_, num_args_);
}

}  // namespace scaledl
