// GradSync: every gradient element averaged exactly once per step, buckets launched from the end
// of the buffer as backward reports them final, overlapped (launched before finish), and the
// Net's hook reports final offsets from the end down to 0.
#include "dist/grad_sync.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/half.h"
#include "models/models.h"
#include "nn/net.h"

namespace scaledl {
namespace {

// A two-rank group whose other rank always contributes `other`: average = (x + other) / 2.
class FakeGroup final : public Group {
 public:
  explicit FakeGroup(float other) : other_(other) {}
  int rank() const override { return 0; }
  int world() const override { return 2; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "fake"; }
  void allreduce(void* data, size_t count, WireType type, ReduceOp op,
                 const std::string& what) override {
    if (type == WireType::f16) {  // a sum of pre-divided shares: the other rank sends other/2
      EXPECT_EQ(op, ReduceOp::sum);
      uint16_t* h = static_cast<uint16_t*>(data);
      const float theirs = half::f16_to_f32(half::f32_to_f16(other_ / 2));
      for (size_t i = 0; i < count; ++i) h[i] = half::f32_to_f16(half::f16_to_f32(h[i]) + theirs);
    } else {
      EXPECT_EQ(op, ReduceOp::average);
      EXPECT_EQ(type, WireType::f32);
      float* p = static_cast<float*>(data);
      for (size_t i = 0; i < count; ++i) p[i] = (p[i] + other_) / 2;
    }
    std::lock_guard<std::mutex> lock(mu);
    overlapped.push_back(overlapping());
    types.push_back(type);
    calls.push_back({static_cast<float*>(data), count});
    names.push_back(what);
  }
  void broadcast(void*, size_t, int, const std::string&) override {}
  void allgather(const void*, void*, size_t, const std::string&) override {}
  void reduce_scatter(const void*, void*, size_t, WireType, ReduceOp, const std::string&) override {
  }
  void barrier(const std::string&) override {}

  std::mutex mu;
  std::vector<std::pair<float*, size_t>> calls;
  std::vector<std::string> names;
  std::vector<WireType> types;
  std::vector<bool> overlapped;  // overlapping() during each call

 private:
  float other_;
};

TEST(GradSync, EveryElementAveragedOnceInBucketsFromTheEnd) {
  Tensor gt = Tensor::zeros({1000});
  float* g = gt.data<float>();
  for (size_t i = 0; i < 1000; ++i) g[i] = static_cast<float>(i);
  auto group = std::make_shared<FakeGroup>(1.f);
  GradSyncOptions o;
  o.bucket_bytes = 300 * 4;  // 300 elements: buckets [700,1000) [400,700) [100,400) [0,100)
  GradSync sync(group, gt, o);
  EXPECT_EQ(sync.buckets(), 4);
  sync.begin_step();
  sync.ready(750);  // nothing whole yet
  sync.ready(650);  // the first bucket is final: it goes out now, before finish (overlap)
  bool sent_early = false;
  for (int wait_ms = 0; wait_ms < 2000 && !sent_early; ++wait_ms) {
    {
      std::lock_guard<std::mutex> lock(group->mu);
      sent_early = !group->calls.empty();
    }
    if (!sent_early) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(sent_early) << "a final bucket must be allreduced during backward, not at finish";
  sync.ready(400);
  sync.finish();
  ASSERT_EQ(group->calls.size(), 4u);
  EXPECT_EQ(group->calls[0].first, g + 700);
  EXPECT_EQ(group->calls[0].second, 300u);
  EXPECT_EQ(group->calls[3].first, g);
  EXPECT_EQ(group->calls[3].second, 100u);
  EXPECT_NE(group->names[0].find("bucket 1 of 4"), std::string::npos) << group->names[0];
  // The bucket sent during backward waits gently (it shares the cores with backward); those
  // finish() sends wait eagerly, and the group is left eager for other callers.
  EXPECT_TRUE(group->overlapped[0]);
  EXPECT_FALSE(group->overlapped[3]);
  EXPECT_FALSE(group->overlapping());
  for (size_t i = 0; i < 1000; ++i) ASSERT_EQ(g[i], (static_cast<float>(i) + 1.f) / 2) << i;
  // A second step syncs again.
  sync.begin_step();
  sync.finish();
  EXPECT_EQ(group->calls.size(), 8u);
  EXPECT_EQ(sync.stats().steps, 2);
}

TEST(GradSync, HalfPrecisionWireRoundsThroughF16) {
  Tensor gt = Tensor::zeros({500});
  float* g = gt.data<float>();
  for (size_t i = 0; i < 500; ++i) g[i] = static_cast<float>(i) / 4 + 1.f / 3;  // not f16-exact
  auto group = std::make_shared<FakeGroup>(1.f);
  GradSyncOptions o;
  o.bucket_bytes = 200 * 4;
  o.wire = WireType::f16;
  GradSync sync(group, gt, o);
  sync.begin_step();
  sync.finish();
  ASSERT_EQ(group->types.size(), 3u);
  EXPECT_EQ(group->types[0], WireType::f16);
  const float theirs = half::f16_to_f32(half::f32_to_f16(0.5f));
  for (size_t i = 0; i < 500; ++i) {  // my half share, rounded to f16, plus theirs, rounded
    const float mine =
        half::f16_to_f32(half::f32_to_f16((static_cast<float>(i) / 4 + 1.f / 3) / 2));
    ASSERT_EQ(g[i], half::f16_to_f32(half::f32_to_f16(mine + theirs))) << i;
  }
}

TEST(GradSync, NetHookReportsFinalOffsetsDownToZero) {
  auto net = std::make_unique<Net>(build_graph("lenet5", 1, 28, 10));
  net->init(1);
  net->setup(4, Layout::nhwc);
  std::vector<int64_t> seen;
  net->set_grad_ready_hook([&](int64_t from) { seen.push_back(from); });
  Tensor x = Tensor::zeros({4, 1, 28, 28}, DType::f32, Device::cpu(), Layout::nhwc);
  RunContext ctx;
  const Tensor& y = net->forward(x, ctx);
  Tensor dy = Tensor::zeros(y.shape());
  dy.fill(0.1f);
  net->backward(dy, ctx);
  ASSERT_EQ(seen.size(), 5u);  // five layers with parameters; conv1 (offset 0) comes last
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i], seen[i - 1]);
  EXPECT_EQ(seen.back(), 0);
  EXPECT_EQ(seen[0], net->num_params() - 850);  // fc3's weight and bias come last
}

TEST(GradSync, SingleRankDoesNothing) {
  class One final : public Group {
   public:
    int rank() const override { return 0; }
    int world() const override { return 1; }
    int local_rank() const override { return 0; }
    std::string backend() const override { return "one"; }
    void allreduce(void*, size_t, WireType, ReduceOp, const std::string&) override { FAIL(); }
    void broadcast(void*, size_t, int, const std::string&) override {}
    void allgather(const void*, void*, size_t, const std::string&) override {}
    void reduce_scatter(const void*, void*, size_t, WireType, ReduceOp,
                        const std::string&) override {}
    void barrier(const std::string&) override {}
  };
  Tensor gt = Tensor::zeros({10});
  gt.fill(3.f);
  const float* g = gt.data<float>();
  GradSync sync(std::make_shared<One>(), gt);
  sync.begin_step();
  sync.ready(0);
  sync.finish();
  EXPECT_EQ(g[0], 3.f);
}

}  // namespace
}  // namespace scaledl
