// scaledl_mpi_check: the MPI group under mpirun, one process per rank (run_mpi_check.sh checks
// the exit code, the time and the output). Modes:
//   collectives        every collective, wire type and op at 1, 7, 1000 and 2^20 elements, with
//                      values computed from rank numbers checked exactly; exit 1 on a mismatch
//   stall TIMEOUT_S    rank 1 stops itself (SIGSTOP) before collective #3; the others must end
//                      the job within the timeout plus the diagnosis
//   kill TIMEOUT_S     rank 1 kills itself (SIGKILL) before collective #3
// Further arguments are ignored (the wrapper passes a tag to find leftover processes by).
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "dist/bootstrap.h"
#include "core/half.h"
#include "dist/mpi_group.h"

namespace {

using namespace scaledl;

int g_failures = 0;

void fail(const Group& g, const std::string& msg) {
  if (g_failures++ < 20) std::fprintf(stderr, "rank %d: FAIL %s\n", g.rank(), msg.c_str());
}

const char* type_name(WireType t) {
  return t == WireType::f32 ? "f32" : t == WireType::f16 ? "f16" : "bf16";
}

// Element j of rank r: small integers, so every sum is exact in f16 and bf16 too and the
// expected values do not depend on the order MPI adds in.
float value(int r, size_t j) { return static_cast<float>(j % 13) + static_cast<float>(r); }

// A buffer of one wire type, as the bit patterns the group sees.
struct Buf {
  WireType type;
  std::vector<float> f;
  std::vector<uint16_t> h;
  Buf(WireType t, size_t n) : type(t) { t == WireType::f32 ? f.resize(n) : h.resize(n); }
  void* data() { return type == WireType::f32 ? static_cast<void*>(f.data()) : h.data(); }
  void set(size_t i, float v) {
    if (type == WireType::f32) f[i] = v;
    else h[i] = type == WireType::f16 ? half::f32_to_f16(v) : half::f32_to_bf16(v);
  }
  // The value as stored, so expected and actual compare bit for bit.
  float get(size_t i) const {
    if (type == WireType::f32) return f[i];
    return type == WireType::f16 ? half::f16_to_f32(h[i]) : half::bf16_to_f32(h[i]);
  }
  float round(float v) const {
    Buf one(type, 1);
    one.set(0, v);
    return one.get(0);
  }
};

// The reduction over ranks of element j, rounded as the group rounds it (exact sum, then one
// division and one rounding for the average).
float expected(const Buf& b, size_t j, int world, ReduceOp op) {
  float sum = 0;
  for (int r = 0; r < world; ++r) sum += value(r, j);
  return b.round(op == ReduceOp::sum ? sum : sum / static_cast<float>(world));
}

void check_allreduce(Group& g, WireType t, ReduceOp op, size_t n) {
  Buf b(t, n);
  for (size_t i = 0; i < n; ++i) b.set(i, value(g.rank(), i));
  g.allreduce(b.data(), n, t, op);
  for (size_t i = 0; i < n; ++i) {
    const float want = expected(b, i, g.world(), op);
    if (b.get(i) != want) {
      fail(g, std::string("allreduce ") + type_name(t) + (op == ReduceOp::sum ? " sum" : " avg") +
                  " n=" + std::to_string(n) + ": element " + std::to_string(i) + " is " +
                  std::to_string(b.get(i)) + ", want " + std::to_string(want));
      return;
    }
  }
}

void check_reduce_scatter(Group& g, WireType t, ReduceOp op, size_t n) {
  const size_t total = n * g.world();
  Buf in(t, total), out(t, n);
  for (size_t j = 0; j < total; ++j) in.set(j, value(g.rank(), j));
  g.reduce_scatter(in.data(), out.data(), n, t, op);
  for (size_t k = 0; k < n; ++k) {
    const float want = expected(out, g.rank() * n + k, g.world(), op);
    if (out.get(k) != want) {
      fail(g, std::string("reduce_scatter ") + type_name(t) +
                  (op == ReduceOp::sum ? " sum" : " avg") + " n=" + std::to_string(n) +
                  ": element " + std::to_string(k) + " is " + std::to_string(out.get(k)) +
                  ", want " + std::to_string(want));
      return;
    }
  }
}

uint8_t byte_of(int r, size_t i) { return static_cast<uint8_t>((r * 31 + i * 7) & 0xff); }

void check_broadcast(Group& g, int root, size_t bytes) {
  std::vector<uint8_t> b(bytes, 0xEE);
  if (g.rank() == root)
    for (size_t i = 0; i < bytes; ++i) b[i] = byte_of(root, i);
  g.broadcast(b.data(), bytes, root);
  for (size_t i = 0; i < bytes; ++i)
    if (b[i] != byte_of(root, i))
      return fail(g, "broadcast root " + std::to_string(root) + " bytes=" + std::to_string(bytes) +
                         ": byte " + std::to_string(i) + " differs");
}

void check_allgather(Group& g, size_t bytes, bool in_place) {
  std::vector<uint8_t> send(bytes), recv(bytes * g.world(), 0xEE);
  for (size_t i = 0; i < bytes; ++i) send[i] = byte_of(g.rank(), i);
  uint8_t* from = send.data();
  if (in_place) {
    from = recv.data() + g.rank() * bytes;
    std::memcpy(from, send.data(), bytes);
  }
  g.allgather(from, recv.data(), bytes);
  for (int q = 0; q < g.world(); ++q)
    for (size_t i = 0; i < bytes; ++i)
      if (recv[q * bytes + i] != byte_of(q, i))
        return fail(g, "allgather bytes=" + std::to_string(bytes) +
                           (in_place ? " in place" : "") + ": byte " + std::to_string(i) +
                           " of rank " + std::to_string(q) + " differs");
}

void check_stats(Group& g) {
  const uint64_t n = g.world();
  CommStats before = g.stats();
  std::vector<float> buf(1000, 1.0f);
  g.allreduce(buf.data(), buf.size(), WireType::f32, ReduceOp::sum);
  CommStats after = g.stats();
  const uint64_t want = 2 * (n - 1) * 4000 / n;
  if (after.calls != before.calls + 1 || after.bytes_sent - before.bytes_sent != want ||
      after.bytes_received - before.bytes_received != want || after.seconds <= before.seconds)
    fail(g, "stats after an allreduce of 4000 bytes: calls +" +
                std::to_string(after.calls - before.calls) + ", sent +" +
                std::to_string(after.bytes_sent - before.bytes_sent) + ", want +1 and +" +
                std::to_string(want));
  before = after;
  std::vector<uint8_t> mine(100), gathered(100 * n);
  g.allgather(mine.data(), gathered.data(), 100);
  after = g.stats();
  if (after.bytes_sent - before.bytes_sent != (n - 1) * 100)
    fail(g, "stats after an allgather of 100 bytes: sent +" +
                std::to_string(after.bytes_sent - before.bytes_sent) + ", want +" +
                std::to_string((n - 1) * 100));
}

int collectives(Group& g, const LaunchInfo& launch) {
  if (g.backend() != "mpi" || g.rank() != launch.rank || g.world() != launch.world ||
      g.local_rank() != launch.local_rank)
    fail(g, "group says rank " + std::to_string(g.rank()) + "/" + std::to_string(g.world()) +
                " local " + std::to_string(g.local_rank()) + ", the launcher " +
                std::to_string(launch.rank) + "/" + std::to_string(launch.world) + " local " +
                std::to_string(launch.local_rank));
  const size_t sizes[] = {1, 7, 1000, size_t{1} << 20};
  for (WireType t : {WireType::f32, WireType::f16, WireType::bf16})
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::average})
      for (size_t n : sizes) {
        check_allreduce(g, t, op, n);
        check_reduce_scatter(g, t, op, n);
      }
  for (size_t bytes : sizes) {
    check_broadcast(g, 0, bytes);
    check_broadcast(g, g.world() - 1, bytes);
    check_allgather(g, bytes, false);
  }
  check_allgather(g, 1000, true);
  g.barrier();
  check_stats(g);
  // Every rank reports its own failures; rank 0 also says what passed.
  if (g_failures == 0 && g.rank() == 0)
    std::printf("collectives: all checks passed on %d ranks (%lld calls, %.3f s in collectives)\n",
                g.world(), static_cast<long long>(g.stats().calls), g.stats().seconds);
  return g_failures == 0 ? 0 : 1;
}

// Rank 1 stops or dies before collective #3; the job must end rather than hang.
int fault(Group& g, int signal, double timeout_s) {
  if (g.world() < 2) {
    std::fprintf(stderr, "stall/kill need at least 2 ranks\n");
    return 2;
  }
  g.set_timeout(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  std::vector<float> buf(256, 1.0f);
  for (int step = 1; step <= 6; ++step) {
    if (step == 3 && g.rank() == 1) std::raise(signal);
    g.allreduce(buf.data(), buf.size(), WireType::f32, ReduceOp::sum,
                "allreduce of step " + std::to_string(step));
  }
  std::fprintf(stderr, "rank %d: FAIL every collective completed although rank 1 %s\n", g.rank(),
               signal == SIGSTOP ? "stopped" : "died");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    const LaunchInfo launch = detect_launch();
    GroupPtr g = mpi_group(launch);
    if (mode == "collectives") return collectives(*g, launch);
    if ((mode == "stall" || mode == "kill") && argc > 2)
      return fault(*g, mode == "stall" ? SIGSTOP : SIGKILL, std::stod(argv[2]));
    std::fprintf(stderr, "usage: scaledl_mpi_check collectives | stall TIMEOUT_S | kill TIMEOUT_S\n");
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "scaledl: error: %s\n", e.what());
    return 2;
  }
}
