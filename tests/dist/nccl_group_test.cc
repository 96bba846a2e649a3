// The NCCL group: without a GPU, the one-line errors of nccl_group and of comm bench --backend
// nccl; with one, the collectives on device memory (one rank; two ranks over the TCP
// rendezvous when the host has two GPUs) and the refusal of host memory.
#include <array>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cli/run_cli.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "core/tensor.h"
#include "dist/nccl_group.h"

namespace scaledl {
namespace {

std::string expected_cause() {
#ifdef SCALEDL_HAVE_CUDA
  return std::string("the NCCL group needs a CUDA device and none is present: ") +
         cuda_unavailable_reason();
#else
  return "the NCCL group needs a CUDA build and this one has no CUDA backend";
#endif
}

TEST(NcclGroup, WithoutAGpuNcclGroupSaysWhy) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    nccl_group(LaunchInfo{});
    FAIL() << "nccl_group returned without a CUDA device";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_EQ(m.rfind("[dist] " + expected_cause(), 0), 0u) << m;
  }
}

TEST(NcclGroup, WithoutAGpuCommBenchEndsWithExit2AndOneLine) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const testing::CliResult r = testing::run_cli("comm bench --backend nccl --max-bytes 64");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.rfind("scaledl: error: [dist] " + expected_cause(), 0), 0u) << r.out;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;  // exactly one line, no table
}

TEST(NcclGroup, CommBenchRefusesAnUnknownBackend) {
  const testing::CliResult r = testing::run_cli("comm bench --backend gloo");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "scaledl: error: [flags] --backend 'gloo': want mpi or nccl\n");
}

// Everything below needs a GPU.
#define NEED_GPU(n)                                                                 \
  do {                                                                              \
    if (cuda_device_count() == 0)                                                   \
      GTEST_SKIP() << "needs a CUDA GPU: " << cuda_unavailable_reason();            \
    if (cuda_device_count() < (n)) GTEST_SKIP() << "needs " << (n) << " CUDA GPUs"; \
  } while (0)

TEST(NcclGroup, OneRankRunsEveryCollectiveOnDeviceMemory) {
  NEED_GPU(1);
  GroupPtr g = nccl_group(LaunchInfo{});
  EXPECT_EQ(g->backend(), "nccl");
  EXPECT_EQ(g->world(), 1);
  const Device dev = nccl_device(LaunchInfo{});
  Tensor x = Tensor::from({4}, {1.5f, -2.f, 3.f, 8.f}).to(dev);
  g->allreduce(x.raw(), 4, WireType::f32, ReduceOp::sum, "allreduce of x");
  EXPECT_EQ(x.to_vector(), (std::vector<float>{1.5f, -2.f, 3.f, 8.f}));
  g->allreduce(x.raw(), 4, WireType::f32, ReduceOp::average, "average of x");
  g->broadcast(x.raw(), x.nbytes(), 0, "broadcast of x");
  EXPECT_EQ(x.to_vector(), (std::vector<float>{1.5f, -2.f, 3.f, 8.f}));
  Tensor all = Tensor::zeros({4}, DType::f32, dev);
  g->allgather(x.raw(), all.raw(), x.nbytes(), "allgather of x");
  EXPECT_EQ(all.to_vector(), (std::vector<float>{1.5f, -2.f, 3.f, 8.f}));
  Tensor part = Tensor::zeros({4}, DType::f32, dev);
  g->reduce_scatter(x.raw(), part.raw(), 4, WireType::f32, ReduceOp::sum, "reduce_scatter");
  EXPECT_EQ(part.to_vector(), (std::vector<float>{1.5f, -2.f, 3.f, 8.f}));
  g->barrier("barrier");
  EXPECT_EQ(g->stats().calls, 6);
  EXPECT_EQ(g->stats().bytes_sent, 0u);  // one rank moves nothing
}

TEST(NcclGroup, HostMemoryIsRefusedInOneLine) {
  NEED_GPU(1);
  GroupPtr g = nccl_group(LaunchInfo{});
  std::array<float, 4> host{1, 2, 3, 4};
  try {
    g->allreduce(host.data(), 4, WireType::f32, ReduceOp::sum, "allreduce of step 1's loss");
    FAIL() << "host memory was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "[dist] allreduce of step 1's loss: the NCCL group takes CUDA memory and this "
              "buffer is in host memory; use the MPI group for CPU tensors");
  }
  EXPECT_EQ(host[3], 4.f);
  g->barrier("barrier after the refusal");  // the group is still usable
  EXPECT_EQ(g->stats().calls, 1);
}

TEST(NcclGroup, CommBenchOnOneGpuChecksEveryElement) {
  NEED_GPU(1);
  const testing::CliResult r = testing::run_cli(
      "comm bench --backend nccl --op all --min-bytes 8 --max-bytes 1M --factor 16 --iters 2 "
      "--warmup 1 --timeout 20");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("1 ranks (nccl)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("every element, exactly"), std::string::npos) << r.out;
}

// Two ranks as threads, one GPU each, meeting over the TCP rendezvous (torchrun-style).
TEST(NcclGroup, TwoRanksOverTheTcpRendezvousSumAndAverage) {
  NEED_GPU(2);
  const int port = 29500 + static_cast<int>(getpid() % 2000);
  std::array<std::vector<float>, 2> sums, avgs;
  std::array<std::vector<uint16_t>, 2> halves;
  std::array<std::string, 2> errors;
  auto rank_main = [&](int r) {
    try {
      LaunchInfo li;
      li.rank = li.local_rank = r;
      li.world = li.local_world = 2;
      li.launcher = "torchrun";
      li.master_addr = "127.0.0.1";
      li.master_port = port;
      GroupPtr g = nccl_group(li, std::chrono::seconds(60));
      const Device dev = nccl_device(li);
      const float v = static_cast<float>(r + 1);
      Tensor x = Tensor::from({3}, {v, 10 * v, -v}).to(dev);
      g->allreduce(x.raw(), 3, WireType::f32, ReduceOp::sum, "sum");
      sums[r] = x.to_vector();
      Tensor y = Tensor::from({3}, {v, 10 * v, -v}).to(dev);
      g->allreduce(y.raw(), 3, WireType::f32, ReduceOp::average, "average");
      avgs[r] = y.to_vector();
      // f16 1.0 (rank 0) and 3.0 (rank 1) average to 2.0: 0x3C00, 0x4200 -> 0x4000.
      std::vector<uint16_t> h(8, r == 0 ? 0x3C00 : 0x4200);
      Tensor t = Tensor::empty({8}, DType::f16, dev);
      device_copy(t.raw(), dev, h.data(), Device::cpu(), 16);
      g->allreduce(t.raw(), 8, WireType::f16, ReduceOp::average, "f16 average");
      device_copy(h.data(), Device::cpu(), t.raw(), dev, 16);
      halves[r] = h;
    } catch (const Error& e) {
      errors[r] = e.what();
    }
  };
  std::thread t1(rank_main, 1);
  rank_main(0);
  t1.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(errors[r], "") << "rank " << r;
    EXPECT_EQ(sums[r], (std::vector<float>{3.f, 30.f, -3.f})) << "rank " << r;
    EXPECT_EQ(avgs[r], (std::vector<float>{1.5f, 15.f, -1.5f})) << "rank " << r;
    EXPECT_EQ(halves[r], std::vector<uint16_t>(8, 0x4000)) << "rank " << r;
  }
}

}  // namespace
}  // namespace scaledl
