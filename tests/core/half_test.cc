// f16/bf16 conversions against known bit patterns and against the hardware (F16C) where the CPU
// has it; the single-process group.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "dist/group.h"
#include "core/half.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

namespace half = scaledl::half;

TEST(Half, F16KnownValues) {
  EXPECT_EQ(half::f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(half::f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(half::f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(half::f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(half::f32_to_f16(65504.0f), 0x7bff);           // largest finite
  EXPECT_EQ(half::f32_to_f16(65519.0f), 0x7bff);           // rounds down to it
  EXPECT_EQ(half::f32_to_f16(65520.0f), 0x7c00);           // halfway: to even = inf
  EXPECT_EQ(half::f32_to_f16(1e9f), 0x7c00);
  EXPECT_EQ(half::f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(half::f32_to_f16(0x1p-24f), 0x0001);           // smallest subnormal
  EXPECT_EQ(half::f32_to_f16(0x1p-25f), 0x0000);           // halfway to it: to even = 0
  EXPECT_EQ(half::f32_to_f16(0x1.8p-25f), 0x0001);         // above halfway
  EXPECT_EQ(half::f32_to_f16(0x1p-14f), 0x0400);           // smallest normal
  EXPECT_EQ(half::f32_to_f16(1.0f + 0x1p-11f), 0x3c00);    // halfway 1 and 1+2^-10: to even
  EXPECT_EQ(half::f32_to_f16(1.0f + 0x1.8p-10f), 0x3c02);  // halfway 1+2^-10 and 1+2^-9: even
  EXPECT_TRUE(std::isnan(half::f16_to_f32(half::f32_to_f16(NAN))));
  EXPECT_EQ(half::f16_to_f32(0x3555), 0x1.554p-2f);
  EXPECT_EQ(half::f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(half::f16_to_f32(0x83ff), -0x1.ff8p-15f);
  EXPECT_EQ(half::f16_to_f32(0x7c00), INFINITY);
}

TEST(Half, F16RoundTripsEveryPattern) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half::f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(half::f32_to_f16(f), h) << std::hex << h;
  }
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) float hw_to_f32(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) uint16_t hw_to_f16(float f) {
  return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

TEST(Half, F16MatchesF16cOnManyValues) {
  if (!half::have_f16c()) GTEST_SKIP() << "no F16C on this CPU";
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float a = half::f16_to_f32(static_cast<uint16_t>(h)), b = hw_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(a)) {
      ASSERT_TRUE(std::isnan(b));
      continue;
    }
    ASSERT_EQ(std::bit_cast<uint32_t>(a), std::bit_cast<uint32_t>(b)) << std::hex << h;
  }
  // Every 97th f32 pattern: all exponents, both signs, subnormals, halfway cases among them.
  for (uint64_t u = 0; u <= 0xffffffffull; u += 97) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(u));
    if (std::isnan(f)) continue;
    ASSERT_EQ(half::f32_to_f16(f), hw_to_f16(f)) << std::hex << u;
  }
}
#endif

TEST(Half, F16AddMatchesPortable) {
  std::vector<uint16_t> in(1003), a(1003), b;
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = static_cast<uint16_t>(i * 40503u);  // scattered patterns: normals, subnormals, inf
    a[i] = static_cast<uint16_t>(i * 2654435761u >> 7);
  }
  b = a;
  half::f16_add(in.data(), a.data(), a.size());  // F16C where the CPU has it
  half::f16_add_portable(in.data(), b.data(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(half::f16_to_f32(b[i]))) {
      EXPECT_TRUE(std::isnan(half::f16_to_f32(a[i]))) << i;
      continue;
    }
    ASSERT_EQ(a[i], b[i]) << i;
  }
  // Exact values: 1 + 2 = 3, 0.5 + 0.25 = 0.75, 2048 + 1 = 2048 (1 is half an ulp: to even).
  std::vector<uint16_t> x{0x3c00, 0x3800, 0x6800}, y{0x4000, 0x3400, 0x3c00};
  half::f16_add(x.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<uint16_t>{0x4200, 0x3a00, 0x6800}));
}

TEST(Half, Bf16) {
  EXPECT_EQ(half::f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(half::f32_to_bf16(-2.5f), 0xc020);
  EXPECT_EQ(half::f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);    // halfway: to even (down)
  EXPECT_EQ(half::f32_to_bf16(1.0f + 0x1.8p-7f), 0x3f82);  // halfway: to even (up)
  EXPECT_EQ(half::f32_to_bf16(1.0f + 0x1.2p-8f), 0x3f81);  // above halfway
  EXPECT_EQ(half::f32_to_bf16(3.4e38f), 0x7f80);            // rounds past the largest: inf
  EXPECT_TRUE(std::isnan(half::bf16_to_f32(half::f32_to_bf16(NAN))));
  EXPECT_EQ(half::bf16_to_f32(0x4049), 3.140625f);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half::bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(half::f32_to_bf16(f), h) << std::hex << h;
  }
  std::vector<uint16_t> x{0x3f80, 0x4380}, y{0x4000, 0x3f80};  // 1 + 2, 256 + 1 (to even: 256)
  half::bf16_add(x.data(), y.data(), 2);
  EXPECT_EQ(y, (std::vector<uint16_t>{0x4040, 0x4380}));
  std::vector<uint16_t> d{0x4040};  // 3 / 2
  half::bf16_div(d.data(), 1, 2.0f);
  EXPECT_EQ(d[0], 0x3fc0);
}

TEST(SingleGroup, CollectivesAreCopiesOrNothing) {
  scaledl::GroupPtr g = scaledl::single_process_group();
  EXPECT_EQ(g->world(), 1);
  EXPECT_EQ(g->rank(), 0);
  EXPECT_EQ(g->local_rank(), 0);
  EXPECT_EQ(g->backend(), "single");
  std::vector<float> v{1.5f, -2.0f, 3.25f};
  g->allreduce(v.data(), v.size(), scaledl::WireType::f32, scaledl::ReduceOp::average);
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  g->allreduce(v.data(), v.size(), scaledl::WireType::f32, scaledl::ReduceOp::sum);
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  std::vector<float> out(3);
  g->reduce_scatter(v.data(), out.data(), 3, scaledl::WireType::f32, scaledl::ReduceOp::sum);
  EXPECT_EQ(out, v);
  std::vector<uint16_t> h{0x3c00, 0x4000}, hout(2);
  g->reduce_scatter(h.data(), hout.data(), 2, scaledl::WireType::bf16, scaledl::ReduceOp::average);
  EXPECT_EQ(hout, h);
  char send[4] = {'a', 'b', 'c', 'd'}, recv[4] = {};
  g->allgather(send, recv, 4);
  EXPECT_EQ(std::string(recv, 4), "abcd");
  g->broadcast(send, 4, 0);
  g->barrier();
  EXPECT_THROW(g->broadcast(send, 4, 1), scaledl::Error);
  EXPECT_EQ(g->stats().calls, 7);
  EXPECT_EQ(g->stats().bytes_sent, 0u);
}

}  // namespace
