// bf16 run natively by the cpu backend (oneDNN's bf16 primitives; AMX or avx512_bf16), against
// the f32 reference on the same bf16-rounded inputs, within bf16 tolerances; and the dispatch:
// support() says native only where the CPU has the instructions, and set_native_bf16(false)
// falls back to the emulation. On a CPU without them the native cases skip, naming why.
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "op_harness.h"

namespace scaledl::optest {
namespace {

// Inputs are rounded to bf16 on both sides, so what differs is the output's rounding (2^-9
// relative) and oneDNN's f32 accumulation order: 1e-2, relative to each element and to the
// largest reference value.
constexpr double kBf16Rel = 1e-2;

bool cpu_has_native_bf16() {
  return support("conv2d_forward", Backend::cpu, DType::bf16) == Support::native;
}

#define SKIP_WITHOUT_NATIVE_BF16()                                                           \
  if (!cpu_has_native_bf16())                                                                \
  GTEST_SKIP() << "this CPU has neither avx512_bf16 nor AMX: the cpu backend emulates bf16 " \
                  "(support() says emulated)"

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

const ConvCase kCases[] = {
    {"1x1 64->256", {2, 64, 14, 14}, {256, 64, 1, 1}, {}, false},
    {"1x1 stride2 64->128 odd plane (a downsample)",
     {2, 64, 9, 7},
     {128, 64, 1, 1},
     {.stride_h = 2, .stride_w = 2},
     false},
    {"3x3 pad1 32->32", {2, 32, 9, 11}, {32, 32, 3, 3}, {.pad_h = 1, .pad_w = 1}, true},
    {"7x7 stride2 pad3 3->16 (the stem)",
     {2, 3, 20, 20},
     {16, 3, 7, 7},
     {.stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3},
     false},
    {"3x3 stride2 groups2",
     {1, 16, 8, 8},
     {16, 8, 3, 3},
     {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 2},
     true},
};

Shape out_shape(const ConvCase& c) {
  return {c.x[0], c.w[0],
          conv_out_size(c.x[2], static_cast<int>(c.w[2]), c.p.stride_h, c.p.pad_h, c.p.dil_h),
          conv_out_size(c.x[3], static_cast<int>(c.w[3]), c.p.stride_w, c.p.pad_w, c.p.dil_w)};
}

struct ConvData {
  Tensor x, w, b, dy;  // f32, already bf16-rounded
};

ConvData make(const ConvCase& c, Layout l, uint64_t seed) {
  Rng rng(seed);
  return {rounded(random_tensor(rng, c.x, l), DType::bf16),
          rounded(random_tensor(rng, c.w), DType::bf16),
          c.bias ? rounded(random_tensor(rng, {c.w[0]}), DType::bf16) : Tensor(),
          rounded(random_tensor(rng, out_shape(c), l), DType::bf16)};
}

struct ConvResults {
  Tensor y, dx, dw, db;  // f32 host copies
};

// The three convolution ops with tensors of `dtype` on `be`.
ConvResults run(Backend be, DType dtype, const ConvCase& c, const ConvData& d) {
  ScopedBackend guard(be);
  const Layout l = d.x.layout();
  const Tensor x = as_dtype(d.x, dtype), w = as_dtype(d.w, dtype), b = as_dtype(d.b, dtype);
  const Tensor dy = as_dtype(d.dy, dtype);
  Tensor y = Tensor::empty(out_shape(c), dtype, Device::cpu(), l);
  Tensor dx = Tensor::empty(c.x, dtype, Device::cpu(), l);
  Tensor dw = Tensor::empty(c.w, dtype);
  Tensor db = c.bias ? Tensor::empty({c.w[0]}, dtype) : Tensor();
  ops::conv2d_forward(c.p, x, w, b, y);
  ops::conv2d_backward_data(c.p, dy, w, dx);
  ops::conv2d_backward_weights(c.p, x, dy, dw, db);
  return {as_dtype(y, DType::f32), as_dtype(dx, DType::f32), as_dtype(dw, DType::f32),
          as_dtype(db, DType::f32)};
}

Tolerance scaled(const Tensor& want) {
  return relative_to_max(want, kBf16Rel);
}

TEST(NativeBf16, ConvolutionMatchesTheF32ReferenceOnBf16Inputs) {
  SKIP_WITHOUT_NATIVE_BF16();
  uint64_t seed = 1300;
  for (const ConvCase& c : kCases)
    for (Layout l : kLayouts) {
      SCOPED_TRACE(std::string(c.name) + " " + std::string(layout_name(l)));
      const ConvData d = make(c, l, ++seed);
      const ConvResults want = run(Backend::reference, DType::f32, c, d);
      const ConvResults got = run(Backend::cpu, DType::bf16, c, d);
      EXPECT_TRUE(all_close("y bf16", got.y, want.y, scaled(want.y)));
      EXPECT_TRUE(all_close("dx bf16", got.dx, want.dx, scaled(want.dx)));
      EXPECT_TRUE(all_close("dw bf16", got.dw, want.dw, scaled(want.dw)));
      if (c.bias) {
        EXPECT_TRUE(all_close("db bf16", got.db, want.db, scaled(want.db)));
      }
      // The emulation agrees with both.
      set_native_bf16(false);
      const ConvResults emu = run(Backend::cpu, DType::bf16, c, d);
      set_native_bf16(true);
      EXPECT_TRUE(all_close("y emulated vs native", emu.y, got.y, scaled(want.y)));
      EXPECT_TRUE(all_close("dw emulated vs native", emu.dw, got.dw, scaled(want.dw)));
    }
}

// The native kernels must really read bf16: reading the bf16 bits as f32 (or the other way
// round) gives values far off, which the comparison above would catch; here the outputs are
// also checked to be rounded to bf16 (their low 16 bits zero after a round trip).
TEST(NativeBf16, OutputsAreBf16Values) {
  SKIP_WITHOUT_NATIVE_BF16();
  const ConvCase& c = kCases[1];
  const ConvData d = make(c, Layout::nhwc, 77);
  const ConvResults got = run(Backend::cpu, DType::bf16, c, d);
  const Tensor again = rounded(got.y, DType::bf16);
  EXPECT_TRUE(all_equal("y is bf16-representable", got.y, again));
}

TEST(NativeBf16, SupportSaysWhatRuns) {
  EXPECT_EQ(support("conv2d_forward", Backend::reference, DType::bf16), Support::emulated);
  EXPECT_EQ(support("conv2d_forward", Backend::cpu, DType::f32), Support::native);
  EXPECT_EQ(support("conv2d_forward", Backend::cpu, DType::f16), Support::emulated);
  EXPECT_EQ(support("cast", Backend::cpu, DType::bf16), Support::native);
  EXPECT_EQ(support("no_such_op", Backend::cpu, DType::f32), Support::none);
  set_native_bf16(false);
  EXPECT_EQ(support("conv2d_forward", Backend::cpu, DType::bf16), Support::emulated);
  set_native_bf16(true);
  // Native exactly where oneDNN has fast bf16 kernels for this CPU.
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  const bool has = isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
  EXPECT_EQ(support("conv2d_forward", Backend::cpu, DType::bf16),
            has ? Support::native : Support::emulated);
}

}  // namespace
}  // namespace scaledl::optest
