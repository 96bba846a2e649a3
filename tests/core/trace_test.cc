// The trace recorder: spans land on their own thread's track, nest, carry args, and nothing is
// recorded while tracing is off.
#include "core/trace.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace scaledl {
namespace {

// A temporary name would dangle before the span ends: the constructor refuses it.
static_assert(!std::is_constructible_v<TraceSpan, std::string, const char*>);
static_assert(std::is_constructible_v<TraceSpan, const std::string&, const char*>);

// Each test starts from an empty, stopped recorder and leaves one behind.
class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trace_enable(false);
    trace_clear();
  }
  void TearDown() override {
    trace_enable(false);
    trace_clear();
  }
  static const TraceThread* find(const TraceData& d, const std::string& name) {
    for (const TraceThread& t : d.threads)
      if (t.name == name) return &t;
    return nullptr;
  }
};

TEST_F(TraceTest, DisabledTracingRecordsNothing) {
  set_trace_thread_name("main");
  {
    TraceSpan s("off", "test");
    s.arg("n", 1);
  }
  trace_record("off too", "test", 1, 2);
  std::thread([] { TraceSpan s("off", "test"); }).join();
  const TraceData d = trace_collect();
  EXPECT_EQ(d.events(), 0u);
  EXPECT_TRUE(d.threads.empty());
  EXPECT_EQ(d.dropped, 0);
}

TEST_F(TraceTest, SpansFromSeveralThreadsLandOnTheirOwnTracks) {
  trace_enable(true);
  set_trace_thread_name("main");
  { TraceSpan s("main span", "test"); }
  std::vector<std::thread> workers;
  for (int k = 0; k < 3; ++k)
    workers.emplace_back([k] {
      set_trace_thread_name("worker " + std::to_string(k));
      for (int i = 0; i <= k; ++i) TraceSpan s("work", "test");
    });
  for (std::thread& t : workers) t.join();
  trace_enable(false);
  const TraceData d = trace_collect();
  ASSERT_EQ(d.threads.size(), 4u);
  EXPECT_EQ(d.events(), 1u + 1 + 2 + 3);
  const TraceThread* main = find(d, "main");
  ASSERT_NE(main, nullptr);
  ASSERT_EQ(main->events.size(), 1u);
  EXPECT_EQ(main->events[0].name, "main span");
  EXPECT_EQ(main->sort_index, static_cast<int>(main->tid));  // by tid unless placed
  std::vector<uint32_t> tids;
  for (int k = 0; k < 3; ++k) {
    const TraceThread* w = find(d, "worker " + std::to_string(k));
    ASSERT_NE(w, nullptr) << k;
    EXPECT_EQ(w->events.size(), static_cast<size_t>(k + 1));
    for (const TraceEvent& e : w->events) {
      EXPECT_EQ(e.name, "work");
      EXPECT_STREQ(e.category, "test");
      EXPECT_LE(e.begin_ns, e.end_ns);
    }
    tids.push_back(w->tid);
  }
  tids.push_back(main->tid);
  for (size_t i = 0; i < tids.size(); ++i)
    for (size_t j = i + 1; j < tids.size(); ++j) EXPECT_NE(tids[i], tids[j]);
  for (size_t i = 1; i < d.threads.size(); ++i) EXPECT_LT(d.threads[i - 1].tid, d.threads[i].tid);
}

TEST_F(TraceTest, NestedSpansNest) {
  trace_enable(true);
  {
    TraceSpan outer("outer", "test");
    { TraceSpan a("inner a", "test"); }
    {
      TraceSpan b("inner b", "test");
      TraceSpan c("innermost", "test");
    }
  }
  const TraceData d = trace_collect();
  ASSERT_EQ(d.threads.size(), 1u);
  const std::vector<TraceEvent>& ev = d.threads[0].events;
  ASSERT_EQ(ev.size(), 4u);  // in the order they ended
  EXPECT_EQ(ev[0].name, "inner a");
  EXPECT_EQ(ev[1].name, "innermost");
  EXPECT_EQ(ev[2].name, "inner b");
  EXPECT_EQ(ev[3].name, "outer");
  const auto inside = [](const TraceEvent& child, const TraceEvent& parent) {
    return parent.begin_ns <= child.begin_ns && child.end_ns <= parent.end_ns;
  };
  EXPECT_TRUE(inside(ev[0], ev[3]));
  EXPECT_TRUE(inside(ev[2], ev[3]));
  EXPECT_TRUE(inside(ev[1], ev[2]));
  EXPECT_LE(ev[0].end_ns, ev[2].begin_ns);  // siblings one after the other
}

TEST_F(TraceTest, ArgsAndRecordedIntervalsAreKept) {
  trace_enable(true);
  {
    TraceSpan s("allreduce", "comm");
    for (int i = 0; i < kTraceMaxArgs + 2; ++i) s.arg("bytes", 100 + i);
  }
  const auto t0 = std::chrono::steady_clock::now();
  trace_record("phase", "step", t0, t0 + std::chrono::microseconds(5));
  trace_record("step 3", "step", 10, 20, {{"step", 3}});
  const TraceData d = trace_collect();
  ASSERT_EQ(d.threads.size(), 1u);
  const std::vector<TraceEvent>& ev = d.threads[0].events;
  ASSERT_EQ(ev.size(), 3u);
  ASSERT_EQ(ev[0].num_args, kTraceMaxArgs);
  EXPECT_STREQ(ev[0].args[0].key, "bytes");
  EXPECT_EQ(ev[0].args[kTraceMaxArgs - 1].value, 100 + kTraceMaxArgs - 1);
  EXPECT_EQ(ev[1].end_ns - ev[1].begin_ns, 5000);
  EXPECT_EQ(ev[1].begin_ns, trace_clock_ns(t0));
  EXPECT_EQ(ev[2].begin_ns, 10);
  EXPECT_EQ(ev[2].end_ns, 20);
  ASSERT_EQ(ev[2].num_args, 1);
  EXPECT_EQ(ev[2].args[0].value, 3);
}

TEST_F(TraceTest, AnEndedThreadKeepsItsSpansUntilCleared) {
  trace_enable(true);
  std::thread([] {
    set_trace_thread_name("short-lived");
    TraceSpan s("once", "test");
  }).join();
  ASSERT_NE(find(trace_collect(), "short-lived"), nullptr);
  trace_clear();
  EXPECT_EQ(trace_collect().events(), 0u);
  // A live thread keeps its track (name and place) across a clear.
  set_trace_thread_name("main", 0);
  { TraceSpan s("before", "test"); }
  trace_clear();
  { TraceSpan s("after", "test"); }
  const TraceData d = trace_collect();
  ASSERT_EQ(d.threads.size(), 1u);
  EXPECT_EQ(d.threads[0].name, "main");
  EXPECT_EQ(d.threads[0].sort_index, 0);
  ASSERT_EQ(d.threads[0].events.size(), 1u);
  EXPECT_EQ(d.threads[0].events[0].name, "after");
}

TEST_F(TraceTest, CollectingWhileThreadsRecordSeesWholeSpans) {
  trace_enable(true);
  constexpr int kSpans = 5000;
  std::vector<std::thread> workers;
  for (int k = 0; k < 2; ++k)
    workers.emplace_back([] {
      for (int i = 0; i < kSpans; ++i) {
        TraceSpan s("busy", "test");
        s.arg("n", i);
      }
    });
  size_t seen = 0;
  for (int i = 0; i < 20; ++i) {
    const TraceData d = trace_collect();
    EXPECT_GE(d.events(), seen);  // only ever grows
    seen = d.events();
    for (const TraceThread& t : d.threads)
      for (const TraceEvent& e : t.events) ASSERT_EQ(e.name, "busy");
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(trace_collect().events(), 2u * kSpans);
}

TEST_F(TraceTest, EnablingAnchorsTheClockToTheSystemClock) {
  trace_enable(true);
  const int64_t sys = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t anchored = trace_clock_ns() + trace_clock_offset_ns();
  EXPECT_LT(std::abs(anchored - sys), 1'000'000'000);  // within a second of the wall clock
}

}  // namespace
}  // namespace scaledl
