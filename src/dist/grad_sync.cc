// GradSync: a bucket queue served by one communication thread.
#include "dist/grad_sync.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/half.h"
#include "core/trace.h"

namespace scaledl {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Bucket {
  int64_t begin = 0, end = 0;  // elements [begin, end) of the flat buffer
  std::string what;            // its allreduce's name in messages
};
}  // namespace

struct GradSync::Impl {
  GroupPtr group;
  Tensor storage;  // keeps the gradient memory alive while the thread may touch it
  float* grads = nullptr;
  GradSyncOptions opt;
  std::vector<Bucket> buckets;  // buckets[0] holds the end of the buffer (final first)

  std::mutex mu;
  std::condition_variable cv, done_cv;
  std::deque<int> queue;
  int launched = 0;  // buckets handed to the thread this step
  int completed = 0;
  bool stopping = false;
  std::exception_ptr error;
  GradSyncStats stats;
  std::thread thread;
  std::vector<uint16_t> wire_buf;  // f16/bf16 wire copy (communication thread only)

  void launch_upto(int n) {  // called under mu
    for (; launched < n; ++launched) queue.push_back(launched);
    cv.notify_one();
  }

  void serve() {
    set_trace_thread_name("comm");
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      const int b = queue.front();
      queue.pop_front();
      lock.unlock();
      const Bucket& bk = buckets[static_cast<size_t>(b)];
      const auto t0 = Clock::now();
      std::exception_ptr failed;
      try {
        TraceSpan span("allreduce", "comm");
        span.arg("bucket", b);
        span.arg("bytes", (bk.end - bk.begin) * (opt.wire == WireType::f32 ? 4 : 2));
        const size_t n = static_cast<size_t>(bk.end - bk.begin);
        const std::string& what = bk.what;
        float* g = grads + bk.begin;
        if (opt.wire == WireType::f32) {
          group->allreduce(g, n, WireType::f32, ReduceOp::average, what);
        } else {  // the comm thread's own 16-bit copy of the bucket
          // Each rank's share is divided before the sum (as PyTorch's fp16 hook does): a sum of
          // ranks' gradients cannot then overflow f16's 65504.
          wire_buf.resize(n);
          const bool f16 = opt.wire == WireType::f16;
          const float inv = 1.f / static_cast<float>(group->world());
          for (size_t i = 0; i < n; ++i)
            wire_buf[i] = f16 ? half::f32_to_f16(g[i] * inv) : half::f32_to_bf16(g[i] * inv);
          group->allreduce(wire_buf.data(), n, opt.wire, ReduceOp::sum, what);
          for (size_t i = 0; i < n; ++i)
            g[i] = f16 ? half::f16_to_f32(wire_buf[i]) : half::bf16_to_f32(wire_buf[i]);
        }
      } catch (...) {
        failed = std::current_exception();
      }
      const double secs = since(t0);
      lock.lock();
      stats.comm_seconds += secs;
      if (failed && !error) error = failed;
      ++completed;
      done_cv.notify_all();
    }
  }
};

GradSync::GradSync(GroupPtr group, Tensor grads, GradSyncOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.group = std::move(group);
  if (!grads.defined() || grads.dtype() != DType::f32)
    throw Error("dist", "GradSync needs the flat f32 gradient buffer");
  // 16-bit wires convert on the host; device gradients go to the group (NCCL) as they are.
  if (!grads.device().is_cpu() && options.wire != WireType::f32)
    throw Error("dist",
                "a 16-bit gradient wire needs host gradients; use --grad-wire f32 with "
                "--device cuda");
  m.storage = grads;
  m.grads = m.storage.data<float>();
  const int64_t count = m.storage.numel();
  m.opt = options;
  if (!m.group) throw Error("dist", "GradSync needs a group");
  if (m.opt.bucket_bytes < 4)
    throw Error("dist", "--bucket-mb must allow at least one f32 element per bucket");
  const int64_t per = static_cast<int64_t>(m.opt.bucket_bytes / 4);
  for (int64_t end = count; end > 0; end -= per)
    m.buckets.push_back({std::max<int64_t>(0, end - per), end, ""});
  const size_t wire_bytes = m.opt.wire == WireType::f32 ? 4 : 2;
  for (size_t b = 0; b < m.buckets.size(); ++b) {
    Bucket& bk = m.buckets[b];
    bk.what = "allreduce of gradient bucket " + std::to_string(b + 1) + " of " +
              std::to_string(m.buckets.size()) + " (" +
              std::to_string(static_cast<size_t>(bk.end - bk.begin) * wire_bytes / 1000) + " kB)";
  }
  m.stats.buckets = static_cast<int>(m.buckets.size());
  if (m.group->world() > 1) m.thread = std::thread([&m] { m.serve(); });
}

GradSync::~GradSync() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int GradSync::buckets() const {
  return static_cast<int>(impl_->buckets.size());
}

void GradSync::begin_step() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  SDL_ASSERT(impl_->queue.empty() && impl_->completed == impl_->launched,
             "GradSync::begin_step with buckets still in flight");
  impl_->launched = impl_->completed = 0;
  // Buckets launched from here to finish() share the cores with backward.
  if (impl_->opt.overlap) impl_->group->set_overlapping(true);
}

void GradSync::ready(int64_t ready_from) {
  Impl& m = *impl_;
  if (m.group->world() == 1 || !m.opt.overlap) return;
  std::lock_guard<std::mutex> lock(m.mu);
  int n = m.launched;
  while (n < static_cast<int>(m.buckets.size()) &&
         m.buckets[static_cast<size_t>(n)].begin >= ready_from)
    ++n;
  if (n > m.launched) m.launch_upto(n);
}

void GradSync::finish() {
  Impl& m = *impl_;
  ++m.stats.steps;
  if (m.group->world() == 1) return;
  const auto t0 = Clock::now();
  m.group->set_overlapping(false);  // backward is done: this thread only waits from here
  std::unique_lock<std::mutex> lock(m.mu);
  m.launch_upto(static_cast<int>(m.buckets.size()));
  // Even after a failure, wait for every launched bucket: none may still be writing when the
  // step unwinds.
  m.done_cv.wait(lock, [&] { return m.completed == m.launched; });
  m.stats.exposed_seconds += since(t0);
  if (m.error) {
    std::exception_ptr e = m.error;
    m.error = nullptr;
    std::rethrow_exception(e);
  }
}

GradSyncStats GradSync::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

}  // namespace scaledl
