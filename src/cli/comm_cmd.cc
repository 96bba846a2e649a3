// scaledl comm bench: collective bandwidth of the MPI or NCCL group, in the style of nccl-tests
// (size, count, time, algbw, busbw, #wrong per size), with every result checked exactly.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/bytes.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "core/tensor.h"
#include "dist/bootstrap.h"
#include "dist/mpi_group.h"
#include "dist/nccl_group.h"

namespace scaledl::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string op = "allreduce", backend = "mpi", min_bytes = "8", max_bytes = "256M", json;
  double factor = 2, timeout = 60;
  int iters = 20, warmup = 5;
  bool check = true;
};

struct Row {
  std::string op;
  uint64_t bytes = 0, count = 0;
  double time_us = 0, algbw = 0, busbw = 0;
  int64_t wrong = -1;  // -1: not checked
};

// What each rank reports after a size: its mean time per call and its mismatches.
struct RankResult {
  double seconds = 0;
  int64_t wrong = 0;
};

// Input values: whole numbers below 2^24 in every sum over up to 128 ranks, so f32 holds inputs
// and results exactly and the check can compare with ==. The rank term tells ranks apart
// (allgather puts blocks in rank order; a swapped block would show).
float value(int rank, uint64_t index) {
  return static_cast<float>(index % 1021 + 1 + 2048 * static_cast<uint64_t>(rank));
}
float sum_over_ranks(int world, uint64_t index) {
  const uint64_t w = static_cast<uint64_t>(world);
  return static_cast<float>(w * (index % 1021 + 1) + 2048 * w * (w - 1) / 2);
}

// One collective at one size: buffers, the call, and the check of its result. The group works
// on `device`'s memory (cuda:N for NCCL): host buffers are filled and checked, and copied to
// and from device buffers around the calls.
class OpRun {
 public:
  OpRun(Group& g, const std::string& op, uint64_t bytes, Device device)
      : g_(g), op_(op), device_(device) {
    const uint64_t n = static_cast<uint64_t>(g.world());
    count_ = std::max<uint64_t>(1, bytes / sizeof(float));
    // nccl-tests' convention: for allgather and reduce_scatter the size is the whole (gathered
    // or scattered) buffer, so it is rounded to a whole block per rank.
    if (blocked()) count_ = std::max<uint64_t>(1, count_ / n) * n;
    block_ = blocked() ? count_ / n : count_;
    what_ = op_ + " of " + std::to_string(this->bytes()) + " bytes";
    if (op_ == "allgather") {
      in_.resize(block_);
      out_.resize(count_);
    } else if (op_ == "reduce_scatter") {
      in_.resize(count_);
      out_.resize(block_);
    } else {
      in_.resize(count_);  // allreduce and broadcast work in place
    }
    if (!device_.is_cpu()) {
      d_in_ = Tensor::empty({static_cast<int64_t>(in_.size())}, DType::f32, device_);
      if (!out_.empty())
        d_out_ = Tensor::empty({static_cast<int64_t>(out_.size())}, DType::f32, device_);
    }
  }
  uint64_t count() const { return count_; }
  uint64_t bytes() const { return count_ * sizeof(float); }

  // Correction from algorithm bandwidth to bus bandwidth (nccl-tests' PERFORMANCE.md): what
  // each rank's link carries, comparable across world sizes.
  double bus_factor() const {
    const double n = g_.world();
    if (op_ == "allreduce") return 2 * (n - 1) / n;
    if (op_ == "broadcast") return 1;
    return (n - 1) / n;
  }

  void fill() {
    const int r = g_.rank();
    if (op_ == "broadcast") {  // only the root's data should survive; -1 shows if it does not
      for (uint64_t i = 0; i < in_.size(); ++i) in_[i] = r == 0 ? value(0, i) : -1.f;
    } else if (op_ == "allgather") {
      for (uint64_t i = 0; i < block_; ++i) in_[i] = value(r, r * block_ + i);
      std::fill(out_.begin(), out_.end(), -1.f);
    } else {
      for (uint64_t i = 0; i < in_.size(); ++i) in_[i] = value(r, i);
      std::fill(out_.begin(), out_.end(), -1.f);
    }
    copy(in_, d_in_, true);
    copy(out_, d_out_, true);
  }

  void call() {
    const std::string& what = what_;
    float* in = device_.is_cpu() ? in_.data() : d_in_.data<float>();
    float* out = device_.is_cpu() ? out_.data() : (out_.empty() ? nullptr : d_out_.data<float>());
    if (op_ == "allreduce") {
      g_.allreduce(in, count_, WireType::f32, ReduceOp::sum, what);
    } else if (op_ == "broadcast") {
      g_.broadcast(in, bytes(), 0, what);
    } else if (op_ == "allgather") {
      g_.allgather(in, out, block_ * sizeof(float), what);
    } else {
      g_.reduce_scatter(in, out, block_, WireType::f32, ReduceOp::sum, what);
    }
  }

  // Mismatches on this rank after one call on freshly filled buffers.
  int64_t wrong() {
    copy(in_, d_in_, false);
    copy(out_, d_out_, false);
    const int r = g_.rank(), n = g_.world();
    int64_t bad = 0;
    if (op_ == "allreduce") {
      for (uint64_t i = 0; i < count_; ++i) bad += in_[i] != sum_over_ranks(n, i);
    } else if (op_ == "broadcast") {
      for (uint64_t i = 0; i < count_; ++i) bad += in_[i] != value(0, i);
    } else if (op_ == "allgather") {
      for (uint64_t i = 0; i < count_; ++i)
        bad += out_[i] != value(static_cast<int>(i / block_), i);
    } else {
      const uint64_t base = static_cast<uint64_t>(r) * block_;
      for (uint64_t i = 0; i < block_; ++i) bad += out_[i] != sum_over_ranks(n, base + i);
    }
    return bad;
  }

 private:
  bool blocked() const { return op_ == "allgather" || op_ == "reduce_scatter"; }
  // Host buffer to its device twin (or back); nothing when the group works on host memory.
  void copy(std::vector<float>& host, Tensor& dev, bool to_device) {
    if (device_.is_cpu() || host.empty()) return;
    if (to_device)
      device_copy(dev.raw(), device_, host.data(), Device::cpu(), host.size() * sizeof(float));
    else
      device_copy(host.data(), Device::cpu(), dev.raw(), device_, host.size() * sizeof(float));
  }

  Group& g_;
  std::string op_;
  std::string what_;  // the collectives' name in messages (built once: call() is timed)
  Device device_;
  uint64_t count_ = 0, block_ = 0;
  std::vector<float> in_, out_;
  Tensor d_in_, d_out_;
};

// allgather of host bytes through the group; through `device`'s memory when it is a GPU's.
void gather_bytes(Group& g, const void* mine, void* all, size_t bytes, Device device,
                  const std::string& what) {
  if (device.is_cpu()) return g.allgather(mine, all, bytes, what);
  const int64_t n = static_cast<int64_t>(bytes);
  Tensor send = Tensor::empty({n}, DType::u8, device);
  Tensor recv = Tensor::empty({n * g.world()}, DType::u8, device);
  device_copy(send.raw(), device, mine, Device::cpu(), bytes);
  g.allgather(send.raw(), recv.raw(), bytes, what);
  device_copy(all, Device::cpu(), recv.raw(), device, bytes * g.world());
}

// Runs one op at one size on every rank; returns rank 0's view of the row (all ranks get it).
Row run_size(Group& g, Device device, const std::string& op, uint64_t bytes, const BenchArgs& a) {
  OpRun run(g, op, bytes, device);
  // Timed calls run on the filled data too: in-place allreduce multiplies it by the world size
  // each call, which may reach inf after many calls; float addition costs the same either way.
  run.fill();
  for (int i = 0; i < a.warmup; ++i) run.call();
  g.barrier("barrier before timing " + op);  // every rank starts the clock together
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < a.iters; ++i) run.call();
  RankResult mine;
  mine.seconds = std::chrono::duration<double>(Clock::now() - t0).count() / a.iters;
  if (a.check) {  // like nccl-tests: one more call on fresh inputs, checked element by element
    run.fill();
    run.call();
    mine.wrong = run.wrong();
  }
  // The Group reduces only floats with sum or average; the slowest rank's time and the exact
  // mismatch count come from gathering every rank's figures instead.
  std::vector<RankResult> all(static_cast<size_t>(g.world()));
  gather_bytes(g, &mine, all.data(), sizeof(RankResult), device, "allgather of " + op + " results");
  Row row;
  row.op = op;
  row.bytes = run.bytes();
  row.count = run.count();
  double slowest = 0;
  int64_t wrong = 0;
  for (const RankResult& r : all) {
    slowest = std::max(slowest, r.seconds);
    wrong += r.wrong;
  }
  row.time_us = slowest * 1e6;
  row.algbw = slowest > 0 ? static_cast<double>(row.bytes) / slowest / 1e9 : 0;
  row.busbw = row.algbw * run.bus_factor();
  row.wrong = a.check ? wrong : -1;
  return row;
}

std::vector<uint64_t> sizes(const BenchArgs& a) {
  const uint64_t lo = parse_bytes(a.min_bytes, "--min-bytes");
  const uint64_t hi = parse_bytes(a.max_bytes, "--max-bytes");
  if (lo > hi)
    throw Error("flags", "--min-bytes " + a.min_bytes + " is above --max-bytes " + a.max_bytes);
  if (!(a.factor > 1)) {
    char f[32];
    std::snprintf(f, sizeof f, "%g", a.factor);
    throw Error("flags", std::string("--factor ") + f + ": want a number above 1");
  }
  std::vector<uint64_t> out;
  for (double s = static_cast<double>(lo); s <= static_cast<double>(hi) * (1 + 1e-9);
       s *= a.factor) {
    const uint64_t b = static_cast<uint64_t>(std::llround(s));
    if (out.empty() || b != out.back()) out.push_back(b);
  }
  return out;
}

void print_row(const Row& r) {
  char wrong[32];
  if (r.wrong < 0)
    std::snprintf(wrong, sizeof wrong, "N/A");
  else
    std::snprintf(wrong, sizeof wrong, "%lld", static_cast<long long>(r.wrong));
  std::printf("%12llu %12llu   float %11.2f %10.3f %10.3f %8s\n",
              static_cast<unsigned long long>(r.bytes), static_cast<unsigned long long>(r.count),
              r.time_us, r.algbw, r.busbw, wrong);
  std::fflush(stdout);
}

int run_bench(const BenchArgs& a) {
  static const std::vector<std::string> all_ops = {"allreduce", "broadcast", "allgather",
                                                   "reduce_scatter"};
  std::vector<std::string> ops;
  if (a.op == "all")
    ops = all_ops;
  else if (std::find(all_ops.begin(), all_ops.end(), a.op) != all_ops.end())
    ops = {a.op};
  else
    throw Error("flags", "--op '" + a.op +
                             "': want allreduce, broadcast, allgather, "
                             "reduce_scatter or all");
  if (a.iters < 1 || a.warmup < 0)
    throw Error("flags", "--iters wants at least 1 and --warmup at least 0");
  if (!(a.timeout > 0)) throw Error("flags", "--timeout wants a number of seconds above 0");
  if (a.backend != "mpi" && a.backend != "nccl")
    throw Error("flags", "--backend '" + a.backend + "': want mpi or nccl");
  const std::vector<uint64_t> todo = sizes(a);

  // mpi: the group the trainer uses on CPUs (MPI under a launcher, a group of one alone);
  // nccl: the GPU group, also for one rank, with buffers on this rank's GPU.
  const LaunchInfo launch = detect_launch();
  const std::chrono::milliseconds timeout(static_cast<int64_t>(a.timeout * 1000));
  GroupPtr g;
  Device device = Device::cpu();
  if (a.backend == "nccl") {
    device = nccl_device(launch);  // says why when no CUDA device is present
    g = nccl_group(launch, timeout);
  } else {
    g = launch.world > 1 ? mpi_group(launch) : single_process_group();
  }
  g->set_timeout(timeout);
  const bool lead = g->rank() == 0;

  std::vector<Row> rows;
  for (const std::string& op : ops) {
    if (lead) {
      std::printf(
          "# scaledl comm bench: %s, %d ranks (%s), f32%s, %d iterations after %d "
          "warm-up, timeout %g s, check %s\n",
          op.c_str(), g->world(), g->backend().c_str(),
          op == "broadcast" ? ", root 0" : (op == "allgather" ? "" : ", sum"), a.iters, a.warmup,
          a.timeout, a.check ? "on" : "off");
      std::printf("#\n#%11s %12s %7s %11s %10s %10s %8s\n#%11s %12s %7s %11s %10s %10s %8s\n",
                  "size", "count", "type", "time", "algbw", "busbw", "#wrong", "(B)", "(elements)",
                  "", "(us)", "(GB/s)", "(GB/s)", "");
    }
    for (uint64_t b : todo) {
      rows.push_back(run_size(*g, device, op, b, a));
      if (lead) print_row(rows.back());
    }
  }
  double sum = 0;
  for (const Row& r : rows) sum += r.busbw;
  if (lead) {
    std::printf("# Results checked      : %s\n# Avg bus bandwidth    : %.3f GB/s\n#\n",
                a.check ? "every element, exactly" : "no (--no-check)",
                rows.empty() ? 0.0 : sum / rows.size());
    if (!a.json.empty()) {
      nlohmann::json j = nlohmann::json::array();
      for (const Row& r : rows)
        j.push_back({{"op", r.op},
                     {"bytes", r.bytes},
                     {"count", r.count},
                     {"type", "f32"},
                     {"time_us", r.time_us},
                     {"algbw_gbps", r.algbw},
                     {"busbw_gbps", r.busbw},
                     {"wrong", a.check ? nlohmann::json(r.wrong) : nlohmann::json(nullptr)},
                     {"ranks", g->world()},
                     {"backend", g->backend()}});
      write_file_atomic(a.json, j.dump(1) + "\n");
    }
  }
  for (const Row& r : rows) {
    if (r.wrong <= 0) continue;
    // Every rank knows; only rank 0 says it, so the job prints one line.
    if (!lead) return 2;
    const std::string size = std::to_string(r.bytes), short_size = bytes_text(r.bytes);
    throw Error("comm", r.op + " of " + size + " bytes" +
                            (short_size != size ? " (" + short_size + ")" : "") + ": " +
                            std::to_string(r.wrong) + " wrong element" + (r.wrong > 1 ? "s" : "") +
                            " across " + std::to_string(g->world()) + " ranks");
  }
  return 0;
}

}  // namespace

Runner add_comm(CLI::App& app) {
  CLI::App* comm = app.add_subcommand("comm", "Communication: collective bandwidth");
  comm->require_subcommand(1);
  auto a = std::make_shared<BenchArgs>();
  CLI::App* c = comm->add_subcommand(
      "bench", "Time collectives over a range of sizes (run under mpirun; alone: 1 rank)");
  c->add_option("--op", a->op, "allreduce, broadcast, allgather, reduce_scatter or all")
      ->capture_default_str();
  c->add_option("--backend", a->backend, "mpi (host memory) or nccl (CUDA memory)")
      ->capture_default_str();
  c->add_option("--min-bytes", a->min_bytes, "Smallest size (K/M/G suffixes)")
      ->capture_default_str();
  c->add_option("--max-bytes", a->max_bytes, "Largest size (K/M/G suffixes)")
      ->capture_default_str();
  c->add_option("--factor", a->factor, "Size multiplier from one row to the next")
      ->capture_default_str();
  c->add_option("--iters", a->iters, "Timed calls per size")->capture_default_str();
  c->add_option("--warmup", a->warmup, "Untimed calls per size first")->capture_default_str();
  c->add_option("--timeout", a->timeout, "Seconds a collective may take before the job ends")
      ->capture_default_str();
  c->add_flag("--check,!--no-check", a->check, "Check every element of one more call's result")
      ->capture_default_str();
  c->add_option("--json", a->json, "Also write the rows as a JSON array to this file (rank 0)");
  return [a] { return run_bench(*a); };
}

}  // namespace scaledl::cli
