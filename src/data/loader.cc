// Loader: P + 1 batch slots (the consumer holds one, workers fill up to P ahead); workers claim
// chunks of rows of the earliest unfinished batch under one mutex and decode them unlocked.
#include "data/loader.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/trace.h"
#include "data/corrupt.h"

namespace scaledl {

namespace {
constexpr uint64_t kAugmentTag = 0x617567;  // "aug": the per-sample augmentation hash
constexpr size_t kMaxCorruptMessages = 10;

struct Slot {
  Batch batch;
  Tensor x_full, labels_full;  // the slot's buffers ([batch] rows); batch.x may be a view
  int64_t step = -1;           // the step this slot holds or is filling; -1: free
  int64_t real = 0, begin = 0;
  std::shared_ptr<const std::vector<int64_t>> order;  // the epoch's rank order
  int64_t claimed = 0, done = 0;
  bool ready = false;
  std::exception_ptr error;  // a worker's failure on this batch
};
}  // namespace

struct Loader::Impl {
  Impl(SourcePtr s, Transformer t, LoaderOptions o)
      : src(std::move(s)), tf(std::move(t)), opt(std::move(o)) {}
  SourcePtr src;
  Transformer tf;
  LoaderOptions opt;
  int64_t bpe = 0, per_epoch = 0, rows = 0, chunk = 1;
  size_t row_bytes = 0;

  std::mutex mu;
  std::condition_variable work_cv, ready_cv, idle_cv;
  std::vector<Slot> slots;
  std::vector<std::thread> workers;
  int64_t next_step = 0;  // the step next() returns next
  int64_t end_step = -1;  // no batch at or past this step is decoded (-1: no end)
  bool started = false, stopping = false, paused = false;
  int inflight = 0;
  LoaderStats stats;
  std::set<int64_t> skipped;  // distinct corrupt samples skipped so far

  std::mutex plan_mu;
  std::map<int64_t, std::shared_ptr<const std::vector<int64_t>>> plans;

  std::shared_ptr<const std::vector<int64_t>> plan(int64_t epoch) {
    std::lock_guard<std::mutex> lock(plan_mu);
    auto it = plans.find(epoch);
    if (it != plans.end()) return it->second;
    auto p = std::make_shared<const std::vector<int64_t>>(
        rank_share(epoch_order(src->size(), opt.shuffle, opt.seed, epoch), opt.rank, opt.world));
    if (plans.size() >= 3) plans.erase(plans.begin());
    plans[epoch] = p;
    return p;
  }

  Slot& slot_of(int64_t step) { return slots[static_cast<size_t>(step) % slots.size()]; }

  // Sets up `slot` for `step` (called under mu; the plan lookup is cheap after the first).
  void assign(Slot& s, int64_t step) {
    s.step = step;
    s.order = plan(step / bpe);
    s.begin = (step % bpe) * opt.batch;
    s.real = std::clamp<int64_t>(static_cast<int64_t>(s.order->size()) - s.begin, 0, opt.batch);
    s.claimed = s.done = 0;
    s.ready = false;
    s.error = nullptr;
  }

  // Finds rows to work on: the earliest step in [next_step, next_step + prefetch) with unclaimed
  // rows. Returns false when there is none.
  bool claim(int64_t& step, int64_t& r0, int64_t& r1) {
    for (int64_t st = next_step; st < next_step + opt.prefetch; ++st) {
      if (end_step >= 0 && st >= end_step) break;
      Slot& s = slot_of(st);
      if (s.step != st) assign(s, st);
      if (s.claimed < rows && !s.error) {
        step = st;
        r0 = s.claimed;
        r1 = std::min(rows, r0 + chunk);
        s.claimed = r1;
        return true;
      }
    }
    return false;
  }

  // Decodes one sample into row `r` of slot `s`; on a corrupt sample, substitutes the next
  // good one of the rank's order while the --skip-corrupt budget lasts.
  void fill_row(const Slot& s, int64_t r, Record& rec, std::vector<uint8_t>& scratch,
                TransformScratch& ts, uint64_t& bytes) {
    uint8_t* dst = static_cast<uint8_t*>(s.x_full.raw()) + static_cast<size_t>(r) * row_bytes;
    int32_t* lab = s.labels_full.data<int32_t>() + r;
    if (r >= s.real) {  // padding
      std::memset(dst, 0, row_bytes);
      *lab = 0;
      return;
    }
    const std::vector<int64_t>& order = *s.order;
    const int64_t epoch = s.step / bpe, n = static_cast<int64_t>(order.size());
    for (int64_t k = 0;; ++k) {
      const int64_t sample = order[static_cast<size_t>((s.begin + r + k) % n)];
      try {
        bytes += src->read(sample, rec, scratch);
        tf.apply(rec,
                 hash_words(opt.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(sample),
                            kAugmentTag),
                 dst, ts, src->where(sample));
        const int32_t label = rec.labels.empty() ? -1 : rec.labels[0];
        if (label < 0 || label >= src->classes())
          throw DataCorrupt(src->where(sample) + ": label " + std::to_string(label) +
                            " is outside the data set's " + std::to_string(src->classes()) +
                            " classes; re-pack it, or pass --skip-corrupt N");
        *lab = label;
        return;
      } catch (const DataCorrupt& e) {
        // The budget counts distinct samples: a bad record met again next epoch is skipped
        // again without using more of it.
        std::lock_guard<std::mutex> lock(mu);
        const bool known = skipped.count(sample) > 0;
        if (k + 1 >= n)
          throw DataCorrupt(e.message() + " [no readable sample left in rank " +
                            std::to_string(opt.rank) + "'s " + std::to_string(n) +
                            " samples of epoch " + std::to_string(epoch) + "]");
        if (!known && stats.corrupt_skipped >= opt.skip_corrupt) {
          if (opt.skip_corrupt > 0)
            throw DataCorrupt(e.message() + " [" + std::to_string(stats.corrupt_skipped) +
                              " corrupt samples skipped already; --skip-corrupt " +
                              std::to_string(opt.skip_corrupt) + " allows no more]");
          throw;
        }
        if (known) continue;
        skipped.insert(sample);
        ++stats.corrupt_skipped;
        if (stats.corrupt.size() < kMaxCorruptMessages) {
          stats.corrupt.push_back(e.what());
          log_warn(std::string("skipping a corrupt sample (") +
                   std::to_string(stats.corrupt_skipped) + " of --skip-corrupt " +
                   std::to_string(opt.skip_corrupt) + "): " + e.what());
        }
      }
    }
  }

  void work(int index) {
    set_trace_thread_name("loader " + std::to_string(index));
    Record rec;
    std::vector<uint8_t> scratch;
    TransformScratch ts;
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      int64_t step = 0, r0 = 0, r1 = 0;
      work_cv.wait(lock, [&] { return stopping || (started && !paused && claim(step, r0, r1)); });
      if (stopping) return;
      Slot& s = slot_of(step);
      ++inflight;
      lock.unlock();
      uint64_t bytes = 0;
      std::exception_ptr failed;
      try {
        TraceSpan span("decode", "data");
        span.arg("step", step);
        span.arg("rows", r1 - r0);
        for (int64_t r = r0; r < r1; ++r) fill_row(s, r, rec, scratch, ts, bytes);
      } catch (...) {
        failed = std::current_exception();
      }
      lock.lock();
      --inflight;
      stats.bytes_read += bytes;
      stats.samples += std::min(r1, s.real) - std::min(r0, s.real);
      if (failed && !s.error) s.error = failed;
      s.done += r1 - r0;
      if (s.done == rows && !s.error) s.ready = true;
      if (s.ready || s.error) ready_cv.notify_all();
      if (inflight == 0) idle_cv.notify_all();
    }
  }

  void finish_batch(Slot& s) {
    Batch& b = s.batch;
    b.real = s.real;
    b.step = s.step;
    b.epoch = s.step / bpe;
    b.index = s.step % bpe;
    if (opt.last == LastBatch::partial && s.real < opt.batch) {
      Shape shape = s.x_full.shape();
      shape[0] = s.real;
      b.x = s.x_full.view(shape, 0);
      b.labels = s.labels_full.view({s.real}, 0);
    } else {
      b.x = s.x_full;
      b.labels = s.labels_full;
    }
  }
};

Loader::Loader(SourcePtr source, Transformer transform, LoaderOptions options)
    : impl_(std::make_unique<Impl>(std::move(source), std::move(transform), std::move(options))) {
  Impl& m = *impl_;
  if (!m.src) throw Error("data", "the loader has no source");
  check_rank(m.opt.rank, m.opt.world);
  if (m.opt.batch < 1)
    throw Error("data", "--batch must be at least 1 (got " + std::to_string(m.opt.batch) + ")");
  if (m.opt.prefetch < 1)
    throw Error("data",
                "--prefetch must be at least 1 (got " + std::to_string(m.opt.prefetch) + ")");
  if (m.opt.skip_corrupt < 0) throw Error("data", "--skip-corrupt must not be negative");
  if (m.opt.threads < 0) throw Error("data", "--loader-threads must be 0 (one per core) or more");
  const int64_t n = m.src->size();
  m.bpe = scaledl::batches_per_epoch(n, m.opt.batch, m.opt.world, m.opt.last);
  if (m.bpe == 0)
    throw Error("data", m.src->describe() + " gives rank " + std::to_string(m.opt.rank) + " of " +
                            std::to_string(m.opt.world) + " " +
                            std::to_string(rank_samples(n, m.opt.rank, m.opt.world)) +
                            " samples, less than one batch of " + std::to_string(m.opt.batch) +
                            "; lower --batch");
  m.per_epoch = m.opt.last == LastBatch::drop ? m.bpe * m.opt.batch
                                              : rank_samples(n, m.opt.rank, m.opt.world);
  m.rows = m.opt.batch;
  m.row_bytes = m.tf.row_bytes();
  int threads = m.opt.threads;
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  m.opt.threads = threads;
  // Chunks small enough that every thread gets work in each batch, large enough that tiny
  // samples (28x28 pixels) do not spend their time on the lock.
  m.chunk = std::max<int64_t>(1, m.rows / (4 * threads));
  m.slots.resize(static_cast<size_t>(m.opt.prefetch) + 1);
  const Shape shape = x_shape();
  for (Slot& s : m.slots) {
    s.x_full = m.opt.pinned
                   ? Tensor::pinned(shape, m.tf.spec().dtype, m.tf.spec().layout)
                   : Tensor::empty(shape, m.tf.spec().dtype, Device::cpu(), m.tf.spec().layout);
    s.labels_full = Tensor::empty({m.opt.batch}, DType::s32);
  }
  try {
    for (int t = 0; t < threads; ++t) m.workers.emplace_back([&m, t] { m.work(t); });
  } catch (const std::system_error& e) {  // could not start a thread: stop the started ones
    stop();
    throw Error("data", "cannot start " + std::to_string(threads) + " loader threads (" + e.what() +
                            "); lower --loader-threads");
  }
}

void Loader::stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->work_cv.notify_all();
  for (std::thread& t : impl_->workers)
    if (t.joinable()) t.join();
}

Loader::~Loader() {
  stop();
}

int64_t Loader::batches_per_epoch() const {
  return impl_->bpe;
}
int64_t Loader::samples_per_epoch() const {
  return impl_->per_epoch;
}
Shape Loader::x_shape() const {
  const Transformer& tf = impl_->tf;
  return {impl_->opt.batch, tf.channels(), tf.out_height(), tf.out_width()};
}
const LoaderOptions& Loader::options() const {
  return impl_->opt;
}
const SampleSource& Loader::source() const {
  return *impl_->src;
}
const Transformer& Loader::transform() const {
  return impl_->tf;
}

void Loader::seek(int64_t step, int64_t end) {
  if (step < 0) throw Error("data", "cannot start the loader at step " + std::to_string(step));
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.mu);
  m.paused = true;
  m.idle_cv.wait(lock, [&] { return m.inflight == 0; });
  for (Slot& s : m.slots) s.step = -1, s.ready = false, s.error = nullptr;
  m.next_step = step;
  m.end_step = end;
  m.started = true;
  m.paused = false;
  lock.unlock();
  m.work_cv.notify_all();
}

const Batch& Loader::next() {
  Impl& m = *impl_;
  if (!m.started) seek(0);
  std::unique_lock<std::mutex> lock(m.mu);
  const int64_t step = m.next_step;
  if (m.end_step >= 0 && step >= m.end_step)
    throw Error("data", "the loader was told to stop before step " + std::to_string(m.end_step) +
                            "; seek() again to read on");
  Slot& s = m.slot_of(step);
  // Prefetch depth as the step finds it: batches ready before it waits (0: the step stalls).
  int64_t depth = 0;
  for (int64_t st = step; st < step + m.opt.prefetch; ++st)
    depth += m.slot_of(st).step == st && m.slot_of(st).ready;
  m.stats.queue_depth_sum += static_cast<double>(depth);
  const auto t0 = std::chrono::steady_clock::now();
  // A failed batch is reported once all its claimed rows are back (no worker still writes it).
  m.ready_cv.wait(lock,
                  [&] { return s.step == step && (s.ready || (s.error && s.done == s.claimed)); });
  m.stats.wait_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (s.error) {  // a failed row fails the batch, even when the other rows completed it
    std::exception_ptr e = s.error;
    lock.unlock();
    std::rethrow_exception(e);
  }
  ++m.stats.batches;
  m.finish_batch(s);
  ++m.next_step;  // frees the slot of step - 1 for step + prefetch
  lock.unlock();
  m.work_cv.notify_all();
  return s.batch;
}

std::vector<int64_t> Loader::rank_order(int64_t epoch) const {
  return *impl_->plan(epoch);
}

LoaderStats Loader::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

}  // namespace scaledl
