// Group: the collectives data-parallel training needs, over a set of ranks, each with a timeout.
//
// Every call is collective: all ranks of the group call it in the same order with the same
// sizes. A call that does not complete within its timeout (a dead or stalled rank) never
// returns: the group reports which collective timed out, on which rank, and which ranks did not
// answer, then ends the whole job with a non-zero exit code (no rank is left hanging).
// Implementations: single-process (world 1), MPI (host memory), NCCL (CUDA memory; the CUDA
// issue).
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace scaledl {

enum class ReduceOp { sum, average };
enum class WireType { f32, f16, bf16 };  // element type of the data the calls see

struct CommStats {
  uint64_t bytes_sent = 0, bytes_received = 0;  // this rank, estimated per algorithm
  double seconds = 0;                           // time inside collectives (this rank)
  int64_t calls = 0;
};

class Group {
 public:
  virtual ~Group() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual int local_rank() const = 0;       // rank among the group's processes on this host
  virtual std::string backend() const = 0;  // "single", "mpi", "nccl"

  // In place over `count` elements of `type` at `data`. `what` names the call in errors (e.g.
  // "allreduce of gradient bucket 3 (6.2 MB)").
  virtual void allreduce(void* data, size_t count, WireType type, ReduceOp op,
                         const std::string& what = "allreduce") = 0;
  virtual void broadcast(void* data, size_t bytes, int root,
                         const std::string& what = "broadcast") = 0;
  // `send` holds `bytes` from this rank; `recv` receives world() * bytes, rank r's at r * bytes.
  virtual void allgather(const void* send, void* recv, size_t bytes,
                         const std::string& what = "allgather") = 0;
  // `data` holds world() * count elements; rank r ends with the reduction of block r in `out`.
  virtual void reduce_scatter(const void* data, void* out, size_t count, WireType type, ReduceOp op,
                              const std::string& what = "reduce_scatter") = 0;
  virtual void barrier(const std::string& what = "barrier") = 0;

  // True while the calling thread's collectives overlap compute on the same cores (GradSync
  // during backward): waits then pause between polls to leave the cores to compute. False (the
  // default): the caller has nothing else to do, and waits poll without sleeping, yielding the
  // core to any other runnable thread.
  void set_overlapping(bool on) { overlapping_.store(on, std::memory_order_relaxed); }
  bool overlapping() const { return overlapping_.load(std::memory_order_relaxed); }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  CommStats stats() const { return stats_; }

 protected:
  std::chrono::milliseconds timeout_{60000};
  CommStats stats_;
  std::atomic<bool> overlapping_{false};
};

using GroupPtr = std::shared_ptr<Group>;

// A group of one: every collective is a copy or nothing.
GroupPtr single_process_group();

}  // namespace scaledl
