// The MPI group. Every collective is non-blocking MPI polled against the group's timeout, so a
// dead or stalled rank cannot hang the others: on timeout the surviving ranks compare how far
// each got over a second communicator, print one line naming the culprits, and MPI_Abort the
// job (mpirun then ends every rank, a stopped one included).
#include "dist/mpi_group.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/half.h"
#include "dist/check_mpi.h"

namespace scaledl {

namespace {

using Clock = std::chrono::steady_clock;

// MPI counts are int; in-place calls bigger than this go in pieces (one collective to callers).
constexpr size_t kMaxPiece = size_t{1} << 30;
constexpr int kDiagTag = 1;  // the diagnosis communicator carries nothing else
// How long a timed-out rank waits for the others' answers (capped by the timeout itself).
constexpr std::chrono::milliseconds kMaxDiagnosis{10000};

// f16/bf16 reductions: MPI sees uint16 elements and these ops sum them in float.
void f16_sum_op(void* in, void* inout, int* len, MPI_Datatype*) {
  half::f16_add(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(inout),
                static_cast<size_t>(*len));
}
void bf16_sum_op(void* in, void* inout, int* len, MPI_Datatype*) {
  half::bf16_add(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(inout),
                 static_cast<size_t>(*len));
}

MPI_Op g_f16_sum = MPI_OP_NULL, g_bf16_sum = MPI_OP_NULL;

void finalize_at_exit() {
  int finalized = 1;
  if (MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
}

// Initializes MPI once per process. MPI cannot be initialized again after MPI_Finalize, so the
// library finalizes at exit rather than when a group dies. When the program initialized MPI
// itself, it also finalizes it.
void init_mpi() {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (g_f16_sum != MPI_OP_NULL) return;
  int inited = 0, finalized = 0, provided = 0;
  SDL_MPI(MPI_Initialized(&inited));
  SDL_MPI(MPI_Finalized(&finalized));
  if (finalized)
    throw Error("dist",
                "MPI was already finalized in this process; create the MPI group once "
                "and keep it for the whole run");
  if (!inited) {
    // The group's collectives are non-blocking (so they can time out), which in Open MPI is
    // libnbc. Its default MPI_Iallreduce for in-place data or fewer than 4 ranks is a binomial
    // reduce then broadcast: half the bandwidth of blocking MPI_Allreduce at 64 MB on 2 ranks
    // (bench/comm_allreduce.sh). The ring is bandwidth-optimal at the MB sizes gradient
    // buckets have. Open MPI reads OMPI_MCA_* at MPI_Init; a value the user set wins.
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
    SDL_MPI(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided));
    std::atexit(finalize_at_exit);
  } else {
    SDL_MPI(MPI_Query_thread(&provided));
  }
  // A group is used by one thread at a time, which SERIALIZED covers; MULTIPLE is asked for so
  // that other threads may use MPI on their own communicators.
  if (provided < MPI_THREAD_SERIALIZED)
    throw Error("dist", "the MPI library gives thread level " + std::to_string(provided) +
                            ", below MPI_THREAD_SERIALIZED; use an MPI built with threads "
                            "(Debian's openmpi-bin is)");
  // The ops live until MPI_Finalize, which frees them.
  SDL_MPI(MPI_Op_create(&f16_sum_op, 1, &g_f16_sum));
  SDL_MPI(MPI_Op_create(&bf16_sum_op, 1, &g_bf16_sum));
}

size_t wire_size(WireType t) {
  return t == WireType::f32 ? 4 : 2;
}
MPI_Datatype wire_datatype(WireType t) {
  return t == WireType::f32 ? MPI_FLOAT : MPI_UINT16_T;
}
MPI_Op sum_op(WireType t) {
  return t == WireType::f32 ? MPI_SUM : t == WireType::f16 ? g_f16_sum : g_bf16_sum;
}

// Turns a sum into an average in place.
void divide(void* data, size_t count, WireType type, int world) {
  if (world == 1) return;
  const float d = static_cast<float>(world);
  if (type == WireType::f32) {
    float* p = static_cast<float*>(data);
    for (size_t i = 0; i < count; ++i) p[i] /= d;
  } else if (type == WireType::f16) {
    half::f16_div(static_cast<uint16_t*>(data), count, d);
  } else {
    half::bf16_div(static_cast<uint16_t*>(data), count, d);
  }
}

std::string seconds_text(std::chrono::milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(t.count()) / 1000.0);
  return buf;
}

// "rank 2" or "ranks 1, 3, 4" (at most 16 named, then a count).
std::string ranks_text(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size() && i < 16; ++i)
    s += (i ? ", " : "") + std::to_string(ranks[i]);
  if (ranks.size() > 16) s += " and " + std::to_string(ranks.size() - 16) + " more";
  return s;
}

class MpiGroup final : public Group {
 public:
  explicit MpiGroup(const LaunchInfo& launch);
  ~MpiGroup() override;
  MpiGroup(const MpiGroup&) = delete;
  MpiGroup& operator=(const MpiGroup&) = delete;

  int rank() const override { return rank_; }
  int world() const override { return world_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }

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
  Call begin(const std::string& what);
  void wait(MPI_Request& req, const Call& call);
  void end(const Call& call, uint64_t sent, uint64_t received);
  [[noreturn]] void timed_out(const Call& call);
  std::string diagnose();

  MPI_Comm comm_ = MPI_COMM_NULL;  // collectives
  MPI_Comm diag_ = MPI_COMM_NULL;  // failure diagnosis: never blocked behind a stuck collective
  int rank_ = 0, world_ = 1, local_rank_ = 0;
  int64_t seq_ = 0;  // collectives this group started; the current one's number once started
  long long diag_mine_ = 0;             // what diagnose() sends,
  std::vector<long long> diag_theirs_;  // and receives (-1: no answer)
};

MpiGroup::MpiGroup(const LaunchInfo& launch) {
  init_mpi();
  SDL_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  SDL_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &diag_));
  // Failures come back as codes (SDL_MPI turns them into errors) instead of aborting inside MPI.
  SDL_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  SDL_MPI(MPI_Comm_set_errhandler(diag_, MPI_ERRORS_RETURN));
  SDL_MPI(MPI_Comm_rank(comm_, &rank_));
  SDL_MPI(MPI_Comm_size(comm_, &world_));
  set_error_rank(rank_);
  // The ranks sharing this host's memory, whatever the launcher said.
  MPI_Comm local = MPI_COMM_NULL;
  SDL_MPI(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
  SDL_MPI(MPI_Comm_rank(local, &local_rank_));
  SDL_MPI(MPI_Comm_free(&local));
  if (launch.launcher != "none" && (launch.world != world_ || launch.rank != rank_))
    throw Error("dist", "the launcher (" + launch.launcher + ") says rank " +
                            std::to_string(launch.rank) + " of " + std::to_string(launch.world) +
                            " but MPI sees rank " + std::to_string(rank_) + " of " +
                            std::to_string(world_) +
                            "; start MPI jobs with mpirun (or srun --mpi=pmix where Slurm has "
                            "PMIx), not with a launcher MPI does not know");
}

MpiGroup::~MpiGroup() {
  int finalized = 1;
  if (MPI_Finalized(&finalized) != MPI_SUCCESS || finalized) return;
  MPI_Comm_free(&comm_);
  MPI_Comm_free(&diag_);
}

MpiGroup::Call MpiGroup::begin(const std::string& what) {
  ++seq_;
  return Call{what, Clock::now()};
}

constexpr std::chrono::microseconds kSpin{500};

// Polls rather than blocks, so the timeout holds. Open MPI only moves data inside MPI_Test, and
// each sleep costs at least the kernel's timer slack (~60 us): sleeping from the start made an
// 8-byte allreduce take ~200 us and a 256 KB one ~400 us against blocking MPI_Allreduce's 1.3
// and 48 us (2 ranks, bench/comm_allreduce.sh). So a wait polls without sleeping, yielding the
// core to any other runnable thread (the loader's, the monitor's). Only while the collective
// overlaps compute (set_overlapping: GradSync during backward) does it pause after the first
// kSpin, 10 us doubling to 1 ms, so a long gradient bucket costs the compute threads at most
// 0.5 ms of one core. Pausing also when nothing overlaps cost 2-rank lenet5 4.5-7.7 ms of
// exposed allreduce per step on a shared 2-core host: a rank that arrived first slept up to
// 1 ms between the collective's protocol steps (docs/sizing.md).
void MpiGroup::wait(MPI_Request& req, const Call& call) {
  const Clock::time_point deadline = call.start + timeout_;
  const Clock::time_point spin_until = Clock::now() + kSpin;
  std::chrono::microseconds pause{10};
  for (;;) {
    int done = 0;
    SDL_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
    if (done) return;
    const Clock::time_point now = Clock::now();
    if (now >= deadline) timed_out(call);
    if (now < spin_until) continue;
    if (!overlapping()) {
      std::this_thread::yield();
      pause = std::chrono::microseconds{10};
      continue;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds{1000});
  }
}

void MpiGroup::end(const Call& call, uint64_t sent, uint64_t received) {
  stats_.bytes_sent += sent;
  stats_.bytes_received += received;
  stats_.seconds += std::chrono::duration<double>(Clock::now() - call.start).count();
  ++stats_.calls;
}

// Asks every other rank how far it got: each timed-out rank sends its collective number to all
// others and listens for theirs. A rank that is stopped, dead, or busy outside MPI for longer
// than the wait does not answer; a rank stuck in an earlier collective answers once that one
// times out too.
std::string MpiGroup::diagnose() {
  // The buffers are members: requests to silent ranks stay pending until MPI_Abort, and MPI may
  // still touch their buffers after this function returns.
  diag_mine_ = seq_;
  const long long mine = diag_mine_;
  diag_theirs_.assign(world_, -1);
  std::vector<long long>& theirs = diag_theirs_;
  std::vector<MPI_Request> recvs(world_, MPI_REQUEST_NULL), sends(world_, MPI_REQUEST_NULL);
  // Errors are ignored here: the job is about to end and the answers are best effort.
  for (int p = 0; p < world_; ++p) {
    if (p == rank_) continue;
    MPI_Irecv(&theirs[p], 1, MPI_LONG_LONG, p, kDiagTag, diag_, &recvs[p]);
    MPI_Isend(&diag_mine_, 1, MPI_LONG_LONG, p, kDiagTag, diag_, &sends[p]);
  }
  const Clock::time_point deadline = Clock::now() + std::min(timeout_, kMaxDiagnosis);
  std::chrono::microseconds pause{10};
  for (bool all = false; !all && Clock::now() < deadline;) {
    all = true;
    for (int p = 0; p < world_; ++p) {
      int done = 1;
      if (recvs[p] != MPI_REQUEST_NULL &&
          MPI_Test(&recvs[p], &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        done = 0;
      all = all && done;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds{1000});
  }
  std::vector<int> silent;
  std::vector<std::string> parts;
  for (int p = 0; p < world_; ++p) {
    if (p == rank_) continue;
    // A receive still pending owns its buffer; only completed ones are read.
    if (recvs[p] != MPI_REQUEST_NULL) {
      silent.push_back(p);
    } else if (theirs[p] < mine) {
      parts.push_back("rank " + std::to_string(p) + " is behind (still at collective #" +
                      std::to_string(theirs[p]) + ")");
    } else if (theirs[p] > mine) {
      parts.push_back("rank " + std::to_string(p) + " is ahead (at collective #" +
                      std::to_string(theirs[p]) + ")");
    }
  }
  if (!silent.empty())
    parts.insert(parts.begin(), ranks_text(silent) + " did not answer (stalled or dead)");
  if (parts.empty())
    parts.push_back(
        "every rank reached this collective (calls that differ between ranks, or a "
        "slow network: raise the timeout)");
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : "; ") + p;
  return s;
}

void MpiGroup::timed_out(const Call& call) {
  const std::string line = "[dist] rank " + std::to_string(rank_) + ": " + call.what +
                           " (collective #" + std::to_string(seq_) + ") did not complete within " +
                           seconds_text(timeout_) + " s; " + diagnose() + "; ending the job";
  std::fprintf(stderr, "scaledl: error: %s\n", line.c_str());
  std::fflush(stderr);
  run_fatal_hook(line);
  // Ends every rank: mpirun kills the rest, stopped ones included, and exits non-zero.
  MPI_Abort(MPI_COMM_WORLD, 3);
  std::_Exit(3);  // MPI_Abort does not return; this is in case a library's does
}

void MpiGroup::allreduce(void* data, size_t count, WireType type, ReduceOp op,
                         const std::string& what) {
  const Call call = begin(what);
  const size_t esize = wire_size(type);
  char* p = static_cast<char*>(data);
  size_t done = 0;
  do {  // one MPI call when count fits in an int (a count of 0 still takes part)
    const size_t n = std::min(count - done, kMaxPiece);
    MPI_Request req;
    SDL_MPI(MPI_Iallreduce(MPI_IN_PLACE, p + done * esize, static_cast<int>(n), wire_datatype(type),
                           sum_op(type), comm_, &req));
    wait(req, call);
    done += n;
  } while (done < count);
  if (op == ReduceOp::average) divide(data, count, type, world_);
  // Ring allreduce: each rank sends and receives 2(n-1)/n of the buffer.
  const uint64_t bytes = 2 * static_cast<uint64_t>(world_ - 1) * count * esize / world_;
  end(call, bytes, bytes);
}

void MpiGroup::broadcast(void* data, size_t bytes, int root, const std::string& what) {
  if (root < 0 || root >= world_)
    throw Error("dist", what + ": root " + std::to_string(root) + " is not a rank (world " +
                            std::to_string(world_) + ")");
  const Call call = begin(what);
  char* p = static_cast<char*>(data);
  size_t done = 0;
  do {
    const size_t n = std::min(bytes - done, kMaxPiece);
    MPI_Request req;
    SDL_MPI(MPI_Ibcast(p + done, static_cast<int>(n), MPI_BYTE, root, comm_, &req));
    wait(req, call);
    done += n;
  } while (done < bytes);
  const uint64_t moved = world_ > 1 ? bytes : 0;
  end(call, rank_ == root ? moved : 0, rank_ == root ? 0 : moved);
}

void MpiGroup::allgather(const void* send, void* recv, size_t bytes, const std::string& what) {
  if (bytes > static_cast<size_t>(INT_MAX))
    throw Error("dist", what + ": " + std::to_string(bytes) +
                            " bytes per rank is more than MPI's count limit (2^31 - 1); "
                            "gather in pieces");
  const Call call = begin(what);
  char* slot = static_cast<char*>(recv) + static_cast<size_t>(rank_) * bytes;
  // MPI forbids a send buffer that aliases the receive buffer unless it says MPI_IN_PLACE.
  const void* from = send == slot ? MPI_IN_PLACE : send;
  MPI_Request req;
  SDL_MPI(MPI_Iallgather(from, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes),
                         MPI_BYTE, comm_, &req));
  wait(req, call);
  const uint64_t moved = static_cast<uint64_t>(world_ - 1) * bytes;  // (n-1)/n of the total
  end(call, moved, moved);
}

void MpiGroup::reduce_scatter(const void* data, void* out, size_t count, WireType type, ReduceOp op,
                              const std::string& what) {
  const size_t esize = wire_size(type);
  if (count > static_cast<size_t>(INT_MAX))
    throw Error("dist", what + ": " + std::to_string(count) +
                            " elements per rank is more than MPI's count limit (2^31 - 1); "
                            "reduce in pieces");
  const uintptr_t d = reinterpret_cast<uintptr_t>(data), o = reinterpret_cast<uintptr_t>(out);
  if (count > 0 && o < d + world_ * count * esize && d < o + count * esize)
    throw Error("dist", what +
                            ": the output overlaps the input; give reduce_scatter a separate "
                            "output buffer");
  const Call call = begin(what);
  MPI_Request req;
  SDL_MPI(MPI_Ireduce_scatter_block(data, out, static_cast<int>(count), wire_datatype(type),
                                    sum_op(type), comm_, &req));
  wait(req, call);
  if (op == ReduceOp::average) divide(out, count, type, world_);
  const uint64_t moved = static_cast<uint64_t>(world_ - 1) * count * esize;  // (n-1)/n of total
  end(call, moved, moved);
}

void MpiGroup::barrier(const std::string& what) {
  const Call call = begin(what);
  MPI_Request req;
  SDL_MPI(MPI_Ibarrier(comm_, &req));
  wait(req, call);
  end(call, 0, 0);
}

}  // namespace

GroupPtr mpi_group(const LaunchInfo& launch) {
  return std::make_shared<MpiGroup>(launch);
}

void end_job_on_error(int code) {
  int inited = 0, finalized = 0, size = 1;
  if (MPI_Initialized(&inited) != MPI_SUCCESS || !inited) return;
  if (MPI_Finalized(&finalized) != MPI_SUCCESS || finalized) return;
  if (MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS || size < 2) return;
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
}

std::string mpi_library() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (MPI_Get_library_version(buf, &len) != MPI_SUCCESS) return "MPI";
  std::string v(buf, static_cast<size_t>(len));
  const size_t cut = v.find_first_of(",\n");  // "Open MPI v4.1.4, package: ..." -> the name
  return cut == std::string::npos ? v : v.substr(0, cut);
}

}  // namespace scaledl
