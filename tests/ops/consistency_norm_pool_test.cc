// Consistency of batch normalization (train, inference, backward) and pooling (max, average,
// global average): every backend against the reference on both layouts, PyTorch semantics pinned
// by hand-computed values, and the reference's gradients against finite differences.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "op_harness.h"

namespace scaledl::optest {
namespace {

std::string shape_layout(const Shape& s, Layout l) {
  return shape_str(s) + " " + std::string(layout_name(l));
}

// ---------------------------------------------------------------------------------------------
// Batch normalization

struct BnCase {
  Shape shape;
  BatchNormParams p;
};

const BnCase kBnCases[] = {
    {{2, 6, 7, 9}, {}},
    {{1, 4, 13, 5}, {}},  // batch 1
    {{8, 16, 3, 3}, {.eps = 1e-3f, .momentum = 0.2f}},
    {{4, 3, 1, 1}, {}},  // 4 values per channel
    {{3, 5, 4, 4}, {.eps = 1e-5f, .momentum = 0.01f}},
};

struct BnTrainOut {
  Tensor y, save_mean, save_var, running_mean, running_var;
};

BnTrainOut bn_train(Backend be, const BatchNormParams& p, const BnTensors& t) {
  ScopedBackend guard(be);
  const int64_t C = t.x.dim(1);
  BnTrainOut o{poisoned(be, t.x.shape(), t.x.layout()), poisoned(be, {C}), poisoned(be, {C}),
               on(be, t.running_mean), on(be, t.running_var)};
  ops::batchnorm_forward_train(p, on(be, t.x), on(be, t.gamma), on(be, t.beta), o.y, o.save_mean,
                               o.save_var, o.running_mean, o.running_var);
  return {to_host(o.y), to_host(o.save_mean), to_host(o.save_var), to_host(o.running_mean),
          to_host(o.running_var)};
}

Tensor bn_inference(Backend be, const BatchNormParams& p, const BnTensors& t) {
  ScopedBackend guard(be);
  Tensor y = poisoned(be, t.x.shape(), t.x.layout());
  ops::batchnorm_forward_inference(p, on(be, t.x), on(be, t.gamma), on(be, t.beta),
                                   on(be, t.running_mean), on(be, t.running_var), y);
  return to_host(y);
}

struct BnGrads {
  Tensor dx, dgamma, dbeta;
};

BnGrads bn_backward(Backend be, const BatchNormParams& p, const BnTensors& t, const Tensor& dy,
                    const Tensor& save_mean, const Tensor& save_var) {
  ScopedBackend guard(be);
  const int64_t C = t.x.dim(1);
  BnGrads g{poisoned(be, t.x.shape(), t.x.layout()), poisoned(be, {C}), poisoned(be, {C})};
  ops::batchnorm_backward(p, on(be, t.x), on(be, dy), on(be, t.gamma), on(be, save_mean),
                          on(be, save_var), g.dx, g.dgamma, g.dbeta);
  return {to_host(g.dx), to_host(g.dgamma), to_host(g.dbeta)};
}

TEST(ConsistencyBatchNorm, TrainForwardMatchesReference) {
  uint64_t seed = 500;
  for (const BnCase& c : kBnCases)
    for (Layout l : kLayouts) {
      const std::string what = "batchnorm_forward_train x " + shape_layout(c.shape, l);
      const BnTensors t = make_bn(c.shape, l, ++seed);
      const BnTrainOut want = bn_train(Backend::reference, c.p, t);
      for_each_backend("batchnorm_forward_train", [&](Backend be) {
        const BnTrainOut got = bn_train(be, c.p, t);
        EXPECT_TRUE(all_close(with_backend(what + ": y", be), got.y, want.y));
        EXPECT_TRUE(
            all_close(with_backend(what + ": save_mean", be), got.save_mean, want.save_mean));
        EXPECT_TRUE(all_close(with_backend(what + ": save_var", be), got.save_var, want.save_var));
        EXPECT_TRUE(all_close(with_backend(what + ": running_mean", be), got.running_mean,
                              want.running_mean));
        EXPECT_TRUE(
            all_close(with_backend(what + ": running_var", be), got.running_var, want.running_var));
      });
    }
}

TEST(ConsistencyBatchNorm, InferenceForwardMatchesReference) {
  uint64_t seed = 600;
  for (const BnCase& c : kBnCases)
    for (Layout l : kLayouts) {
      const std::string what = "batchnorm_forward_inference y, x " + shape_layout(c.shape, l);
      const BnTensors t = make_bn(c.shape, l, ++seed);
      const Tensor want = bn_inference(Backend::reference, c.p, t);
      for_each_backend("batchnorm_forward_inference", [&](Backend be) {
        EXPECT_TRUE(all_close(with_backend(what, be), bn_inference(be, c.p, t), want));
      });
    }
}

TEST(ConsistencyBatchNorm, BackwardMatchesReference) {
  uint64_t seed = 700;
  for (const BnCase& c : kBnCases)
    for (Layout l : kLayouts) {
      const std::string what = "batchnorm_backward, x " + shape_layout(c.shape, l);
      const BnTensors t = make_bn(c.shape, l, ++seed);
      const BnTrainOut fwd = bn_train(Backend::reference, c.p, t);
      const BnGrads want =
          bn_backward(Backend::reference, c.p, t, t.dy, fwd.save_mean, fwd.save_var);
      for_each_backend("batchnorm_backward", [&](Backend be) {
        const BnGrads got = bn_backward(be, c.p, t, t.dy, fwd.save_mean, fwd.save_var);
        EXPECT_TRUE(all_close(with_backend(what + ": dx", be), got.dx, want.dx));
        EXPECT_TRUE(all_close(with_backend(what + ": dgamma", be), got.dgamma, want.dgamma));
        EXPECT_TRUE(all_close(with_backend(what + ": dbeta", be), got.dbeta, want.dbeta));
      });
    }
}

// Biased variance normalizes and is saved; the running variance gets the unbiased one (PyTorch).
TEST(ConsistencyBatchNorm, ReferenceStatisticsArePyTorchs) {
  BnTensors t;
  t.x = Tensor::from({2, 1, 1, 2}, {1.f, 2.f, 3.f, 4.f});
  t.gamma = Tensor::from({1}, {2.f});
  t.beta = Tensor::from({1}, {0.5f});
  t.running_mean = Tensor::from({1}, {0.f});
  t.running_var = Tensor::from({1}, {1.f});
  const BnTrainOut o = bn_train(Backend::reference, BatchNormParams{.eps = 0.f}, t);
  EXPECT_FLOAT_EQ(o.save_mean.at(0), 2.5f);
  EXPECT_FLOAT_EQ(o.save_var.at(0), 1.25f);
  EXPECT_FLOAT_EQ(o.running_mean.at(0), 0.25f);
  EXPECT_FLOAT_EQ(o.running_var.at(0), 0.9f + 0.1f * 5.f / 3.f);
  EXPECT_FLOAT_EQ(o.y.at(0), 2.f * (1.f - 2.5f) / std::sqrt(1.25f) + 0.5f);
}

TEST(GradientBatchNorm, ReferenceMatchesFiniteDifferences) {
  const BnCase cases[] = {{{2, 3, 5, 4}, {}}, {{1, 2, 3, 7}, {}}, {{4, 3, 1, 1}, {.eps = 1e-3f}}};
  uint64_t seed = 800;
  for (const BnCase& c : cases)
    for (Layout l : kLayouts) {
      const std::string what = "batchnorm train, x " + shape_layout(c.shape, l);
      BnTensors t = make_bn(c.shape, l, ++seed);
      const Tensor& r = t.dy;
      auto forward = [&] { return bn_train(Backend::reference, c.p, t).y; };
      const BnTrainOut fwd = bn_train(Backend::reference, c.p, t);
      const BnGrads g = bn_backward(Backend::reference, c.p, t, r, fwd.save_mean, fwd.save_var);
      EXPECT_TRUE(check_gradient(what + ": dx", t.x, g.dx, forward, r));
      EXPECT_TRUE(check_gradient(what + ": dgamma", t.gamma, g.dgamma, forward, r));
      EXPECT_TRUE(check_gradient(what + ": dbeta", t.beta, g.dbeta, forward, r));
    }
}

// ---------------------------------------------------------------------------------------------
// Pooling

struct PoolCase {
  const char* name;
  Shape x;
  Pool2dParams p;
};

const PoolCase kPoolCases[] = {
    {"3x3 s2 p1", {2, 3, 13, 5}, {.kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1}},
    {"2x2 s2 odd 7x9", {1, 4, 7, 9}, {}},
    {"3x3 s2 ceil 8x10", {2, 3, 8, 10}, {.kernel_h = 3, .kernel_w = 3, .ceil_mode = true}},
    {"3x3 s2 p1 ceil 8x8",
     {1, 5, 8, 8},
     {.kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .ceil_mode = true}},
    {"2x2 s2 p1 ceil 5x7 (last window dropped)",
     {2, 2, 5, 7},
     {.pad_h = 1, .pad_w = 1, .ceil_mode = true}},
    {"3x3 s1 p1 ceil",
     {2, 3, 7, 9},
     {.kernel_h = 3,
      .kernel_w = 3,
      .stride_h = 1,
      .stride_w = 1,
      .pad_h = 1,
      .pad_w = 1,
      .ceil_mode = true}},
    {"5x5 s3 ceil 14x14",
     {1, 3, 14, 14},
     {.kernel_h = 5, .kernel_w = 5, .stride_h = 3, .stride_w = 3, .ceil_mode = true}},
    {"2x3 s(1,2) p(1,1)",
     {2, 3, 6, 11},
     {.kernel_h = 2, .kernel_w = 3, .stride_h = 1, .stride_w = 2, .pad_h = 1, .pad_w = 1}},
};

Shape pool_out(const PoolCase& c) {
  return {c.x[0], c.x[1],
          pool_out_size(c.x[2], c.p.kernel_h, c.p.stride_h, c.p.pad_h, c.p.ceil_mode),
          pool_out_size(c.x[3], c.p.kernel_w, c.p.stride_w, c.p.pad_w, c.p.ceil_mode)};
}

std::string describe(const PoolCase& c, Layout l) {
  return std::string("'") + c.name + "' x " + shape_layout(c.x, l) + " -> y " +
         shape_str(pool_out(c)) + (c.p.count_include_pad ? "" : ", count_include_pad off");
}

// Max pooling's forward and backward on one backend (the workspace stays with its backend).
struct MaxPoolOut {
  Tensor y, dx;
};

MaxPoolOut maxpool(Backend be, const PoolCase& c, const Tensor& x, const Tensor& dy) {
  ScopedBackend guard(be);
  Tensor xb = on(be, x), y = poisoned(be, pool_out(c), x.layout()), ws;
  ops::maxpool2d_forward(c.p, xb, y, ws);
  if (!dy.defined()) return {to_host(y), Tensor()};
  Tensor dx = poisoned(be, c.x, x.layout());
  ops::maxpool2d_backward(c.p, xb, y, ws, on(be, dy), dx);
  return {to_host(y), to_host(dx)};
}

Tensor avgpool_forward(Backend be, const Pool2dParams& p, const Shape& out, const Tensor& x) {
  ScopedBackend guard(be);
  Tensor y = poisoned(be, out, x.layout());
  ops::avgpool2d_forward(p, on(be, x), y);
  return to_host(y);
}

Tensor avgpool_backward(Backend be, const Pool2dParams& p, const Shape& in, const Tensor& dy) {
  ScopedBackend guard(be);
  Tensor dx = poisoned(be, in, dy.layout());
  ops::avgpool2d_backward(p, on(be, dy), dx);
  return to_host(dx);
}

TEST(ConsistencyPool, MaxForwardBackwardMatchReference) {
  uint64_t seed = 900;
  for (const PoolCase& c : kPoolCases)
    for (Layout l : kLayouts) {
      Rng rng(++seed);
      // Distinct values: the argmax (and so dx) is unique whatever the scan order.
      const Tensor x = random_distinct(rng, c.x, l, 0.01f);
      const Tensor dy = random_tensor(rng, pool_out(c), l);
      const MaxPoolOut want = maxpool(Backend::reference, c, x, dy);
      for_each_backend("maxpool2d_backward", [&](Backend be) {
        const MaxPoolOut got = maxpool(be, c, x, dy);
        EXPECT_TRUE(
            all_close(with_backend("maxpool2d_forward y, " + describe(c, l), be), got.y, want.y));
        EXPECT_TRUE(all_close(with_backend("maxpool2d_backward dx, " + describe(c, l), be), got.dx,
                              want.dx));
      });
    }
}

TEST(ConsistencyPool, AvgForwardBackwardMatchReference) {
  uint64_t seed = 1000;
  for (const PoolCase& base : kPoolCases)
    for (bool include_pad : {true, false})
      for (Layout l : kLayouts) {
        PoolCase c = base;
        c.p.count_include_pad = include_pad;
        Rng rng(++seed);
        const Tensor x = random_tensor(rng, c.x, l);
        const Tensor dy = random_tensor(rng, pool_out(c), l);
        const Tensor want_y = avgpool_forward(Backend::reference, c.p, pool_out(c), x);
        const Tensor want_dx = avgpool_backward(Backend::reference, c.p, c.x, dy);
        for_each_backend("avgpool2d_forward", [&](Backend be) {
          EXPECT_TRUE(all_close(with_backend("avgpool2d_forward y, " + describe(c, l), be),
                                avgpool_forward(be, c.p, pool_out(c), x), want_y));
        });
        for_each_backend("avgpool2d_backward", [&](Backend be) {
          EXPECT_TRUE(all_close(with_backend("avgpool2d_backward dx, " + describe(c, l), be),
                                avgpool_backward(be, c.p, c.x, dy), want_dx));
        });
      }
}

Tensor global_forward(Backend be, const Tensor& x) {
  ScopedBackend guard(be);
  Tensor y = poisoned(be, {x.dim(0), x.dim(1)});
  ops::global_avgpool_forward(on(be, x), y);
  return to_host(y);
}

Tensor global_backward(Backend be, const Shape& in, Layout l, const Tensor& dy) {
  ScopedBackend guard(be);
  Tensor dx = poisoned(be, in, l);
  ops::global_avgpool_backward(on(be, dy), dx);
  return to_host(dx);
}

TEST(ConsistencyPool, GlobalAvgMatchesReference) {
  const Shape shapes[] = {{2, 5, 7, 9}, {1, 3, 1, 1}, {4, 8, 13, 5}};
  uint64_t seed = 1100;
  for (const Shape& s : shapes)
    for (Layout l : kLayouts) {
      Rng rng(++seed);
      const Tensor x = random_tensor(rng, s, l);
      const Tensor dy = random_tensor(rng, {s[0], s[1]});
      const Tensor want_y = global_forward(Backend::reference, x);
      const Tensor want_dx = global_backward(Backend::reference, s, l, dy);
      const std::string what = "x " + shape_layout(s, l);
      for_each_backend("global_avgpool_forward", [&](Backend be) {
        EXPECT_TRUE(all_close(with_backend("global_avgpool_forward y, " + what, be),
                              global_forward(be, x), want_y));
      });
      for_each_backend("global_avgpool_backward", [&](Backend be) {
        EXPECT_TRUE(all_close(with_backend("global_avgpool_backward dx, " + what, be),
                              global_backward(be, s, l, dy), want_dx));
      });
    }
}

// PyTorch's windows pinned by hand on a 4x4 ramp, kernel 3, stride 2, padding 1, ceil_mode:
// 3x3 outputs; the last window starts at row/col 3 and is clipped to input + padding (2 cells).
TEST(ConsistencyPool, ReferenceWindowsArePyTorchs) {
  std::vector<float> ramp(16), neg(16);
  for (int i = 0; i < 16; ++i) ramp[i] = static_cast<float>(i), neg[i] = -1.f - i;
  const PoolCase c{"hand",
                   {1, 1, 4, 4},
                   {.kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .ceil_mode = true}};
  ASSERT_EQ(pool_out(c), (Shape{1, 1, 3, 3}));
  // Max pooling ignores the padding (an all-negative input stays negative).
  const Tensor ymax = maxpool(Backend::reference, c, Tensor::from(c.x, neg), Tensor()).y;
  EXPECT_EQ(ymax.at(0), -1.f);
  EXPECT_EQ(ymax.at(8), -16.f);
  const Tensor x = Tensor::from(c.x, ramp);
  const Tensor incl = avgpool_forward(Backend::reference, c.p, pool_out(c), x);
  EXPECT_FLOAT_EQ(incl.at(0), (0.f + 1 + 4 + 5) / 9.f);
  EXPECT_FLOAT_EQ(incl.at(2), (3.f + 7) / 6.f);  // rows -1..1, cols 3..4: 3x2 cells, 2 real
  EXPECT_FLOAT_EQ(incl.at(8), 15.f / 4.f);       // rows 3..4, cols 3..4: 2x2 cells, 1 real
  Pool2dParams excl_p = c.p;
  excl_p.count_include_pad = false;
  const Tensor excl = avgpool_forward(Backend::reference, excl_p, pool_out(c), x);
  EXPECT_FLOAT_EQ(excl.at(0), (0.f + 1 + 4 + 5) / 4.f);
  EXPECT_FLOAT_EQ(excl.at(2), (3.f + 7) / 2.f);
  EXPECT_FLOAT_EQ(excl.at(8), 15.f);
  // The dropped last window: 5 wide, kernel 2, stride 2, padding 1, ceil_mode gives 3, not 4.
  EXPECT_EQ(pool_out_size(5, 2, 2, 1, true), 3);
}

TEST(ConsistencyPool, RejectsWrongOutputShape) {
  const Tensor x = Tensor::zeros({1, 2, 7, 7});
  for (Backend be : all_backends("avgpool2d_forward")) {
    SCOPED_TRACE(std::string(backend_name(be)));
    ScopedBackend guard(be);
    Tensor y = poisoned(be, {1, 2, 4, 4});  // 2x2 stride 2 gives 3x3
    EXPECT_THROW(ops::avgpool2d_forward(Pool2dParams{}, on(be, x), y), Error);
  }
}

TEST(GradientPool, ReferenceMatchesFiniteDifferences) {
  const PoolCase cases[] = {
      {"3x3 s2 p1 ceil",
       {2, 2, 6, 7},
       {.kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .ceil_mode = true}},
      {"2x2 s2 p1 ceil", {1, 3, 5, 7}, {.pad_h = 1, .pad_w = 1, .ceil_mode = true}},
      {"3x3 s1 p1",
       {1, 2, 5, 4},
       {.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1}},
  };
  uint64_t seed = 1200;
  for (const PoolCase& base : cases)
    for (Layout l : kLayouts) {
      Rng rng(++seed);
      const Tensor r = random_tensor(rng, pool_out(base), l);
      {
        Tensor x = random_distinct(rng, base.x, l, 0.01f);
        auto forward = [&] { return maxpool(Backend::reference, base, x, Tensor()).y; };
        const Tensor dx = maxpool(Backend::reference, base, x, r).dx;
        EXPECT_TRUE(check_gradient("maxpool2d dx, " + describe(base, l), x, dx, forward, r));
      }
      for (bool include_pad : {true, false}) {
        PoolCase c = base;
        c.p.count_include_pad = include_pad;
        Tensor x = random_tensor(rng, c.x, l);
        auto forward = [&] { return avgpool_forward(Backend::reference, c.p, pool_out(c), x); };
        const Tensor dx = avgpool_backward(Backend::reference, c.p, c.x, r);
        EXPECT_TRUE(check_gradient("avgpool2d dx, " + describe(c, l), x, dx, forward, r));
      }
    }
  for (Layout l : kLayouts) {
    Rng rng(++seed);
    const Shape s{2, 3, 5, 3};
    Tensor x = random_tensor(rng, s, l);
    const Tensor r = random_tensor(rng, {2, 3});
    auto forward = [&] { return global_forward(Backend::reference, x); };
    EXPECT_TRUE(check_gradient("global_avgpool dx, x " + shape_layout(s, l), x,
                               global_backward(Backend::reference, s, l, r), forward, r));
  }
}

}  // namespace
}  // namespace scaledl::optest
