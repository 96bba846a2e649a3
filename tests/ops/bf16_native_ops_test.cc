// The cpu backend's other native bf16 ops (batch norm, batch norm + ReLU, relu, add, max and
// global average pooling, linear, reorder, concat/split) against the f32 reference on the same
// bf16-rounded inputs, within bf16 tolerances; exact where the op only moves or selects values.
// Skipped on a CPU without avx512_bf16 or AMX (the cpu backend then emulates bf16).
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "op_harness.h"

namespace scaledl::optest {
namespace {

// Random values already representable in bf16 (both sides read the same numbers).
Tensor bf16_values(Rng& rng, const Shape& s, Layout l, float lo = -1.f, float hi = 1.f) {
  return rounded(random_tensor(rng, s, l, lo, hi), DType::bf16);
}

Tensor out_like(const Tensor& t, DType d) {
  return Tensor::empty(t.shape(), d, Device::cpu(), t.layout());
}

// One op run with its activations in dtype `d` on the current backend; returns its outputs as
// f32.
using OpRun = std::function<std::vector<Tensor>(DType d)>;

struct Case {
  std::string name;
  OpRun run;
  double tol;  // relative to the largest reference value; 0: exact
};

std::vector<Case> cases(Layout l) {
  const Shape s{4, 24, 6, 5};
  const int64_t C = s[1];
  std::vector<Case> out;
  auto bn_inputs = [=](uint64_t seed) {
    Rng rng(seed);
    std::vector<Tensor> t{bf16_values(rng, s, l, -1.5f, 2.5f),  // x
                          random_tensor(rng, {C}, Layout::nchw, 0.5f, 1.5f),
                          random_tensor(rng, {C}, Layout::nchw, -0.5f, 0.5f),
                          bf16_values(rng, s, l)};  // dy
    return t;
  };
  for (bool relu : {false, true}) {
    out.push_back({std::string("batch norm") + (relu ? " + relu" : "") + " train and backward",
                   [=](DType d) {
                     std::vector<Tensor> t = bn_inputs(relu ? 11 : 12);
                     const Tensor x = as_dtype(t[0], d), dy = as_dtype(t[3], d);
                     Tensor y = out_like(x, d), dx = out_like(x, d), ws;
                     Tensor mean = Tensor::empty({C}), var = Tensor::empty({C});
                     Tensor rm = Tensor::zeros({C}), rv = Tensor::zeros({C});
                     Tensor dg = Tensor::empty({C}), db = Tensor::empty({C});
                     if (relu) {
                       ops::batchnorm_relu_forward_train({}, x, t[1], t[2], y, mean, var, rm, rv,
                                                         ws);
                       ops::batchnorm_relu_backward({}, x, y, ws, dy, t[1], mean, var, dx, dg, db);
                     } else {
                       ops::batchnorm_forward_train({}, x, t[1], t[2], y, mean, var, rm, rv);
                       ops::batchnorm_backward({}, x, dy, t[1], mean, var, dx, dg, db);
                     }
                     return std::vector<Tensor>{as_dtype(y, DType::f32),  mean, var, rv,
                                                as_dtype(dx, DType::f32), dg,   db};
                   },
                   2e-2});
  }
  out.push_back({"batch norm inference",
                 [=](DType d) {
                   std::vector<Tensor> t = bn_inputs(13);
                   Rng rng(14);
                   const Tensor rm = random_tensor(rng, {C}),
                                rv = random_tensor(rng, {C}, Layout::nchw, .5f, 2.f);
                   const Tensor x = as_dtype(t[0], d);
                   Tensor y = out_like(x, d);
                   ops::batchnorm_forward_inference({}, x, t[1], t[2], rm, rv, y);
                   return std::vector<Tensor>{as_dtype(y, DType::f32)};
                 },
                 1e-2});
  out.push_back({"relu forward and backward",
                 [=](DType d) {
                   Rng rng(15);
                   const Tensor x = as_dtype(bf16_values(rng, s, l), d),
                                g = as_dtype(bf16_values(rng, s, l), d);
                   Tensor y = out_like(x, d), dx = out_like(x, d);
                   ops::relu_forward(x, y);
                   ops::relu_backward(y, g, dx);
                   return std::vector<Tensor>{as_dtype(y, DType::f32), as_dtype(dx, DType::f32)};
                 },
                 1e-6});  // exact but for the sign of zero
  out.push_back({"add",
                 [=](DType d) {
                   Rng rng(16);
                   const Tensor a = as_dtype(bf16_values(rng, s, l), d),
                                b = as_dtype(bf16_values(rng, s, l), d);
                   Tensor y = out_like(a, d);
                   ops::add(a, b, y);
                   return std::vector<Tensor>{as_dtype(y, DType::f32)};
                 },
                 1e-2});
  out.push_back({"max pooling 3x3 stride 2 pad 1, forward and backward",
                 [=](DType d) {
                   Rng rng(17);
                   const Pool2dParams p{.kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1};
                   // 240 distinct integers: exact in bf16, so no ties move the argmax.
                   const Tensor x = as_dtype(random_distinct(rng, {2, 4, 6, 5}, l, 1.f), d);
                   const Shape ys{2, 4, 3, 3};
                   const Tensor dy = as_dtype(bf16_values(rng, ys, l), d);
                   Tensor y = Tensor::empty(ys, d, Device::cpu(), l), ws;
                   Tensor dx = out_like(x, d);
                   ops::maxpool2d_forward(p, x, y, ws);
                   ops::maxpool2d_backward(p, x, y, ws, dy, dx);
                   return std::vector<Tensor>{as_dtype(y, DType::f32), as_dtype(dx, DType::f32)};
                 },
                 1e-2});
  out.push_back({"global average pooling, forward and backward",
                 [=](DType d) {
                   Rng rng(18);
                   const Tensor x = as_dtype(bf16_values(rng, s, l), d);
                   const Tensor dy = as_dtype(bf16_values(rng, {4, 24}, Layout::nchw), d);
                   Tensor y = Tensor::empty({4, 24}, d), dx = out_like(x, d);
                   ops::global_avgpool_forward(x, y);
                   ops::global_avgpool_backward(dy, dx);
                   return std::vector<Tensor>{as_dtype(y, DType::f32), as_dtype(dx, DType::f32)};
                 },
                 1e-2});
  for (bool bf16_bias : {false, true})
    out.push_back({std::string("linear, forward and both backward passes, ") +
                       (bf16_bias ? "bf16" : "f32") + " bias",
                   [=](DType d) {
                     Rng rng(20);
                     const Tensor x = as_dtype(bf16_values(rng, {6, 40}, Layout::nchw), d),
                                  w = as_dtype(bf16_values(rng, {12, 40}, Layout::nchw), d),
                                  dy = as_dtype(bf16_values(rng, {6, 12}, Layout::nchw), d);
                     const DType bd = bf16_bias ? d : DType::f32;
                     const Tensor b = as_dtype(bf16_values(rng, {12}, Layout::nchw), bd);
                     Tensor y = Tensor::empty({6, 12}, d), dx = out_like(x, d);
                     Tensor dw = out_like(w, d), db = Tensor::empty({12}, bd);
                     ops::linear_forward(x, w, b, y);
                     ops::linear_backward_data(dy, w, dx);
                     ops::linear_backward_weights(x, dy, dw, db);
                     return std::vector<Tensor>{as_dtype(y, DType::f32), as_dtype(dx, DType::f32),
                                                as_dtype(dw, DType::f32), as_dtype(db, DType::f32)};
                   },
                   1e-2});
  out.push_back({"reorder to the other layout, concat and split",
                 [=](DType d) {
                   Rng rng(19);
                   const Tensor x = as_dtype(bf16_values(rng, s, l), d);
                   const Layout other = l == Layout::nchw ? Layout::nhwc : Layout::nchw;
                   Tensor r = Tensor::empty(s, d, Device::cpu(), other);
                   ops::reorder(x, r);
                   const Tensor b = as_dtype(bf16_values(rng, {4, 8, 6, 5}, l), d);
                   Tensor cat = Tensor::empty({4, 32, 6, 5}, d, Device::cpu(), l);
                   ops::concat_channels({x, b}, cat);
                   std::vector<Tensor> parts{out_like(x, d), out_like(b, d)};
                   ops::split_channels(cat, parts);
                   return std::vector<Tensor>{as_dtype(r, DType::f32), as_dtype(cat, DType::f32),
                                              as_dtype(parts[0], DType::f32),
                                              as_dtype(parts[1], DType::f32)};
                 },
                 0});
  return out;
}

TEST(NativeBf16, OtherOpsMatchTheF32ReferenceOnBf16Inputs) {
  if (support("batchnorm_forward_train", Backend::cpu, DType::bf16) != Support::native)
    GTEST_SKIP() << "this CPU has neither avx512_bf16 nor AMX: the cpu backend emulates bf16";
  for (Layout l : kLayouts)
    for (const Case& c : cases(l)) {
      SCOPED_TRACE(c.name + " " + std::string(layout_name(l)));
      auto run_on = [&](Backend be, DType d) {
        ScopedBackend guard(be);
        return c.run(d);
      };
      const std::vector<Tensor> want = run_on(Backend::reference, DType::f32);
      const std::vector<Tensor> got = run_on(Backend::cpu, DType::bf16);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        const std::string what = "output " + std::to_string(i);
        if (c.tol == 0)
          EXPECT_TRUE(all_equal(what, got[i], want[i]));
        else
          EXPECT_TRUE(all_close(what, got[i], want[i], relative_to_max(want[i], c.tol)));
      }
    }
}

}  // namespace
}  // namespace scaledl::optest
