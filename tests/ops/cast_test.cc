// ops::cast and ops::all_finite on the host backends: rounding to nearest even, overflow to
// infinity, NaN kept, the scale applied before rounding; a round trip through f32 exact.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/half.h"
#include "ops/ops.h"

namespace scaledl {
namespace {

std::vector<uint16_t> bits(const Tensor& t) {
  const uint16_t* p = t.data<uint16_t>();
  return {p, p + t.numel()};
}

// The reference and cpu backends share one host cast, so these run once, on the default.
TEST(Cast, F32ToF16RoundsToNearestEvenAndOverflowsToInf) {
  {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even significand (1.0);
    // 1 + 3 * 2^-11 goes up to 1 + 2^-9. 65520 is the first value that rounds to inf.
    const Tensor x = Tensor::from({6}, {1.f + 0x1p-11f, 1.f + 3 * 0x1p-11f, 65504.f, 65520.f,
                                        -0.f, std::numeric_limits<float>::quiet_NaN()});
    Tensor y = Tensor::empty({6}, DType::f16);
    ops::cast(x, y, 1.f);
    const std::vector<uint16_t> h = bits(y);
    EXPECT_EQ(h[0], 0x3c00);  // 1.0
    EXPECT_EQ(h[1], 0x3c02);  // 1 + 2^-9
    EXPECT_EQ(h[2], 0x7bff);  // 65504, the largest f16
    EXPECT_EQ(h[3], 0x7c00);  // inf
    EXPECT_EQ(h[4], 0x8000);  // -0
    EXPECT_EQ(h[5] & 0x7c00, 0x7c00);
    EXPECT_NE(h[5] & 0x03ff, 0);  // NaN stays NaN
  }
}

TEST(Cast, ScaleIsAppliedBeforeRoundingAndBf16KeepsTheExponentRange) {
  const Tensor x = Tensor::from({3}, {3.f, 1e30f, -2.5e-3f});
  Tensor b = Tensor::empty({3}, DType::bf16);
  ops::cast(x, b, 1024.f);
  EXPECT_EQ(half::bf16_to_f32(bits(b)[0]), 3072.f);
  EXPECT_TRUE(std::isfinite(half::bf16_to_f32(bits(b)[1])));  // 1e33 fits bf16, not f16
  EXPECT_NEAR(half::bf16_to_f32(bits(b)[2]), -2.56f, 0.01f);
  Tensor back = Tensor::empty({3});
  ops::cast(b, back, 1.f / 1024.f);  // unscaling: x back within bf16's rounding
  EXPECT_NEAR(back.at(0), 3.f, 0.f);
  EXPECT_NEAR(back.at(1) / 1e30f, 1.f, 4e-3f);
  Tensor h = Tensor::empty({3}, DType::f16);
  ops::cast(x, h, 1024.f);
  EXPECT_TRUE(std::isinf(half::f16_to_f32(bits(h)[1])));
}

TEST(Cast, ARoundTripOfRepresentableValuesIsExact) {
  Tensor x = Tensor::empty({2, 3, 4, 5}, DType::f32, Device::cpu(), Layout::nhwc);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i - 60) / 8.f;
  for (DType t : {DType::f16, DType::bf16}) {
    Tensor h = Tensor::empty(x.shape(), t, Device::cpu(), Layout::nhwc);
    Tensor back = Tensor::empty(x.shape(), DType::f32, Device::cpu(), Layout::nhwc);
    ops::cast(x, h, 1.f);
    ops::cast(h, back, 1.f);
    EXPECT_EQ(back.to_vector(), x.to_vector()) << dtype_name(t);
  }
}

TEST(Cast, MismatchedSizesOrIntegerTypesAreNamed) {
  Tensor y = Tensor::empty({5}, DType::f16);
  try {
    ops::cast(Tensor::zeros({4}), y, 1.f);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "cast");
    EXPECT_NE(e.message().find("f16[5]"), std::string::npos) << e.what();
  }
  Tensor s = Tensor::empty({4}, DType::s32);
  EXPECT_THROW(ops::cast(Tensor::zeros({4}), s, 1.f), Error);
}

TEST(AllFinite, FindsInfAndNanInEveryFloatType) {
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    Tensor x = Tensor::empty({1000}, t);
    Tensor src = Tensor::zeros({1000});
    ops::cast(src, x, 1.f);
    EXPECT_TRUE(ops::all_finite(x)) << dtype_name(t);
    src.data<float>()[999] = std::numeric_limits<float>::infinity();
    ops::cast(src, x, 1.f);
    EXPECT_FALSE(ops::all_finite(x)) << dtype_name(t);
    src.data<float>()[999] = 0.f;
    src.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
    ops::cast(src, x, 1.f);
    EXPECT_FALSE(ops::all_finite(x)) << dtype_name(t);
  }
}

}  // namespace
}  // namespace scaledl
