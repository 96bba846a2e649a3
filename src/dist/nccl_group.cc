// The NCCL group. A non-blocking communicator; each collective waits (an event) for the work
// queued on the device's compute stream, runs on the group's own stream, and is polled
// (ncclCommGetAsyncError, cudaEventQuery) against the timeout. On timeout the rank prints one
// line, aborts the communicator and ends the job, as the MPI group does.
#include "dist/nccl_group.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/runtime.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "dist/check_nccl.h"
#include "dist/mpi_group.h"
#include "dist/rendezvous.h"

namespace scaledl {

namespace {

using Clock = std::chrono::steady_clock;

struct StreamDeleter {
  void operator()(cudaStream_t s) const noexcept { cudaStreamDestroy(s); }
};
struct EventDeleter {
  void operator()(cudaEvent_t e) const noexcept { cudaEventDestroy(e); }
};
using StreamPtr = std::unique_ptr<std::remove_pointer_t<cudaStream_t>, StreamDeleter>;
using EventPtr = std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, EventDeleter>;

size_t wire_size(WireType t) {
  return t == WireType::f32 ? 4 : 2;
}
ncclDataType_t nccl_type(WireType t) {
  return t == WireType::f32 ? ncclFloat32 : t == WireType::f16 ? ncclFloat16 : ncclBfloat16;
}
// NCCL's average of floating types scales each rank's share by 1/n (in the wire type) before
// the sum, so f16 and bf16 sums cannot overflow where the average does not.
ncclRedOp_t nccl_op(ReduceOp op) {
  return op == ReduceOp::sum ? ncclSum : ncclAvg;
}

std::string seconds_text(std::chrono::milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(t.count()) / 1000.0);
  return buf;
}

std::string nccl_text(ncclComm_t comm, ncclResult_t rc) {
  std::string s = ncclGetErrorString(rc);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') s += std::string(" (") + last + ")";
  return s;
}

// Aborts `comm` from another thread and waits at most 10 s: a wedged abort must not keep the
// job from ending.
void abort_bounded(ncclComm_t comm) {
  if (comm == nullptr) return;
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread([comm, done] {
    ncclCommAbort(comm);
    *done = true;
  }).detach();
  const Clock::time_point until = Clock::now() + std::chrono::seconds(10);
  while (!*done && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

class NcclGroup final : public Group {
 public:
  NcclGroup(const LaunchInfo& launch, std::chrono::milliseconds timeout);
  ~NcclGroup() override;
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  int rank() const override { return rank_; }
  int world() const override { return world_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "nccl"; }

  void allreduce(void* data, size_t count, WireType type, ReduceOp op,
                 const std::string& what) override;
  void broadcast(void* data, size_t bytes, int root, const std::string& what) override;
  void allgather(const void* send, void* recv, size_t bytes, const std::string& what) override;
  void reduce_scatter(const void* data, void* out, size_t count, WireType type, ReduceOp op,
                      const std::string& what) override;
  void barrier(const std::string& what) override;

 private:
  struct Call {
    const std::string& what;
    Clock::time_point start;
  };
  void check_buffer(const void* p, size_t bytes, const std::string& what) const;
  Call begin(const std::string& what);
  void wait(const Call& call, ncclResult_t launched);
  void end(const Call& call, uint64_t sent, uint64_t received);
  [[noreturn]] void failed(const Call& call, ncclResult_t rc);
  [[noreturn]] void timed_out(const Call& call, bool enqueued);
  ncclUniqueId share_id(const LaunchInfo& launch);

  Device device_;
  int rank_ = 0, world_ = 1, local_rank_ = 0;
  ncclComm_t comm_ = nullptr;
  StreamPtr stream_;
  EventPtr ready_, done_;
  float* scratch_ = nullptr;  // barrier's one element
  int64_t seq_ = 0;           // collectives started; the current one's number once started
};

// Rank 0's unique id to every rank: over MPI when MPI launched the job, else over TCP.
ncclUniqueId NcclGroup::share_id(const LaunchInfo& launch) {
  ncclUniqueId id{};
  if (launch.launcher == "mpirun" || launch.launcher == "srun") {
    GroupPtr mpi = mpi_group(launch);  // checks rank and world against MPI's
    mpi->set_timeout(timeout_);
    if (mpi->rank() == 0) SDL_NCCL(ncclGetUniqueId(&id));
    mpi->broadcast(&id, sizeof id, 0, "broadcast of the NCCL unique id");
  } else {
    if (rank_ == 0) SDL_NCCL(ncclGetUniqueId(&id));
    rendezvous_share(launch.master_addr, launch.master_port, rank_, world_, &id, sizeof id,
                     timeout_);
  }
  return id;
}

NcclGroup::NcclGroup(const LaunchInfo& launch, std::chrono::milliseconds timeout)
    : device_(nccl_device(launch)),
      rank_(launch.rank),
      world_(launch.world),
      local_rank_(launch.local_rank) {
  timeout_ = timeout;
  set_error_rank(rank_);
  cuda::context(device_);  // the compute stream, and device_ current on this thread
  const ncclUniqueId id = share_id(launch);
  cudaStream_t s = nullptr;
  SDL_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  stream_.reset(s);
  cudaEvent_t e = nullptr;
  SDL_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  ready_.reset(e);
  SDL_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  done_.reset(e);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  SDL_NCCL_ASYNC(ncclCommInitRankConfig(&comm_, world_, id, rank_, &config));
  const Clock::time_point deadline = Clock::now() + timeout_;
  ncclResult_t state = ncclInProgress;
  while (state == ncclInProgress) {
    SDL_NCCL_ASYNC(ncclCommGetAsyncError(comm_, &state));
    if (state == ncclInProgress && Clock::now() >= deadline) {
      abort_bounded(comm_);
      comm_ = nullptr;
      throw Error("dist", "rank " + std::to_string(rank_) + ": the NCCL communicator of " +
                              std::to_string(world_) + " ranks on " + device_.str() +
                              " was not set up within " + seconds_text(timeout_) +
                              " s; a rank did not start, or the hosts cannot reach each other "
                              "(NCCL_SOCKET_IFNAME, NCCL_DEBUG=INFO)");
    }
    if (state == ncclInProgress) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (state != ncclSuccess) {
    const std::string why = nccl_text(comm_, state);
    abort_bounded(comm_);
    comm_ = nullptr;
    throw Error("dist", "rank " + std::to_string(rank_) + ": setting up the NCCL communicator on " +
                            device_.str() + " failed: " + why);
  }
  scratch_ = static_cast<float*>(device_alloc(sizeof(float), device_));
}

NcclGroup::~NcclGroup() {
  if (comm_ != nullptr) {
    // Finalize flushes this rank's work; when it does not finish in time, abort instead.
    cudaSetDevice(device_.index);
    ncclResult_t state = ncclCommFinalize(comm_);
    const Clock::time_point deadline =
        Clock::now() + std::min(timeout_, std::chrono::milliseconds(10000));
    while (state == ncclInProgress && Clock::now() < deadline) {
      if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (state == ncclSuccess)
      ncclCommDestroy(comm_);
    else
      abort_bounded(comm_);
  }
  if (scratch_ != nullptr) device_free(scratch_, device_);
}

// NCCL reads and writes device memory only; a host pointer would fail inside a kernel.
void NcclGroup::check_buffer(const void* p, size_t bytes, const std::string& what) const {
  if (bytes == 0) return;
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();
    a.type = cudaMemoryTypeUnregistered;
  }
  if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged)
    throw Error("dist", what +
                            ": the NCCL group takes CUDA memory and this buffer is in host "
                            "memory; use the MPI group for CPU tensors");
  if (a.device != device_.index)
    throw Error("dist", what + ": the buffer is on cuda:" + std::to_string(a.device) +
                            " but rank " + std::to_string(rank_) + "'s NCCL group uses " +
                            device_.str() + "; put the tensor on nccl_device()");
}

NcclGroup::Call NcclGroup::begin(const std::string& what) {
  if (comm_ == nullptr)
    throw Error("dist", what +
                            ": this rank's NCCL communicator was aborted after an earlier "
                            "failure; make a new group");
  ++seq_;
  // Starts after the work already queued on the compute stream (what produced the data).
  cudaStream_t compute = cuda::context(device_).stream;
  SDL_CUDA(cudaEventRecord(ready_.get(), compute));
  SDL_CUDA(cudaStreamWaitEvent(stream_.get(), ready_.get(), 0));
  return Call{what, Clock::now()};
}

constexpr std::chrono::microseconds kSpin{500};

// Polls as the MPI group does: without pausing for the first kSpin, then backing off from 10 us
// to 1 ms. A non-blocking communicator may still be enqueuing (ncclInProgress) when the call
// returns; the completion event is recorded once it has finished.
void NcclGroup::wait(const Call& call, ncclResult_t launched) {
  if (launched != ncclSuccess && launched != ncclInProgress) failed(call, launched);
  const Clock::time_point deadline = call.start + timeout_;
  const Clock::time_point spin_until = Clock::now() + kSpin;
  std::chrono::microseconds pause{10};
  bool enqueued = false;
  for (;;) {
    ncclResult_t state = ncclSuccess;
    SDL_NCCL_ASYNC(ncclCommGetAsyncError(comm_, &state));
    if (state != ncclSuccess && state != ncclInProgress) failed(call, state);
    if (state == ncclSuccess && !enqueued) {
      SDL_CUDA(cudaEventRecord(done_.get(), stream_.get()));
      enqueued = true;
    }
    if (enqueued) {
      const cudaError_t q = cudaEventQuery(done_.get());
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) SDL_CUDA(q);
    }
    if (Clock::now() < spin_until) continue;
    if (Clock::now() >= deadline) timed_out(call, enqueued);
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds{1000});
  }
}

void NcclGroup::end(const Call& call, uint64_t sent, uint64_t received) {
  stats_.bytes_sent += sent;
  stats_.bytes_received += received;
  stats_.seconds += std::chrono::duration<double>(Clock::now() - call.start).count();
  ++stats_.calls;
}

// An asynchronous NCCL error (a peer failed, a network error): the communicator is unusable.
void NcclGroup::failed(const Call& call, ncclResult_t rc) {
  const std::string why = nccl_text(comm_, rc);
  abort_bounded(comm_);
  comm_ = nullptr;
  throw Error("dist", "rank " + std::to_string(rank_) + ": " + call.what + " (collective #" +
                          std::to_string(seq_) + ") failed: NCCL: " + why);
}

void NcclGroup::timed_out(const Call& call, bool enqueued) {
  const std::string state = enqueued ? "it is still running on " + device_.str() +
                                           ": a rank stalled, died or called a different collective"
                                     : "NCCL was still enqueuing it on " + device_.str();
  const std::string line = "[dist] rank " + std::to_string(rank_) + ": " + call.what +
                           " (collective #" + std::to_string(seq_) + ") did not complete within " +
                           seconds_text(timeout_) + " s; " + state + "; ending the job";
  std::fprintf(stderr, "scaledl: error: %s\n", line.c_str());
  std::fflush(stderr);
  run_fatal_hook(line);
  abort_bounded(comm_);  // frees the GPU from the stuck kernel
  comm_ = nullptr;
  end_job_on_error(3);  // an MPI job: MPI_Abort ends every rank
  std::_Exit(3);        // torchrun-style: the launcher ends the others when one rank exits
}

void NcclGroup::allreduce(void* data, size_t count, WireType type, ReduceOp op,
                          const std::string& what) {
  const size_t esize = wire_size(type);
  check_buffer(data, count * esize, what);
  const Call call = begin(what);
  wait(call, ncclAllReduce(data, data, count, nccl_type(type), nccl_op(op), comm_, stream_.get()));
  const uint64_t bytes = 2 * static_cast<uint64_t>(world_ - 1) * count * esize / world_;
  end(call, bytes, bytes);
}

void NcclGroup::broadcast(void* data, size_t bytes, int root, const std::string& what) {
  if (root < 0 || root >= world_)
    throw Error("dist", what + ": root " + std::to_string(root) + " is not a rank (world " +
                            std::to_string(world_) + ")");
  check_buffer(data, bytes, what);
  const Call call = begin(what);
  wait(call, ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_.get()));
  const uint64_t moved = world_ > 1 ? bytes : 0;
  end(call, rank_ == root ? moved : 0, rank_ == root ? 0 : moved);
}

void NcclGroup::allgather(const void* send, void* recv, size_t bytes, const std::string& what) {
  check_buffer(send, bytes, what);
  check_buffer(recv, bytes * world_, what);
  const Call call = begin(what);
  wait(call, ncclAllGather(send, recv, bytes, ncclUint8, comm_, stream_.get()));
  const uint64_t moved = static_cast<uint64_t>(world_ - 1) * bytes;
  end(call, moved, moved);
}

void NcclGroup::reduce_scatter(const void* data, void* out, size_t count, WireType type,
                               ReduceOp op, const std::string& what) {
  const size_t esize = wire_size(type);
  const uintptr_t d = reinterpret_cast<uintptr_t>(data), o = reinterpret_cast<uintptr_t>(out);
  if (count > 0 && o < d + world_ * count * esize && d < o + count * esize)
    throw Error("dist", what +
                            ": the output overlaps the input; give reduce_scatter a separate "
                            "output buffer");
  check_buffer(data, world_ * count * esize, what);
  check_buffer(out, count * esize, what);
  const Call call = begin(what);
  wait(call,
       ncclReduceScatter(data, out, count, nccl_type(type), nccl_op(op), comm_, stream_.get()));
  const uint64_t moved = static_cast<uint64_t>(world_ - 1) * count * esize;
  end(call, moved, moved);
}

// NCCL has no barrier: an allreduce of one element every rank must join.
void NcclGroup::barrier(const std::string& what) {
  const Call call = begin(what);
  wait(call, ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream_.get()));
  end(call, 0, 0);
}

}  // namespace

Device nccl_device(const LaunchInfo& launch) {
  const int n = cuda_device_count();
  if (n == 0)
    throw Error("dist", std::string("the NCCL group needs a CUDA device and none is present: ") +
                            cuda_unavailable_reason());
  return Device::cuda(launch.local_rank % n);
}

GroupPtr nccl_group(const LaunchInfo& launch, std::chrono::milliseconds timeout) {
  return std::make_shared<NcclGroup>(launch, timeout);
}

}  // namespace scaledl
