// Fused batch norm + ReLU (batchnorm_relu_forward_train, batchnorm_relu_backward) against the
// unfused pair on the same backend (batchnorm_forward_train then relu_forward; relu_backward
// then batchnorm_backward), values and gradients, on both layouts, and every backend against
// the reference. The Net runs the fused ops wherever supports() says so. Tolerance kBackendTol:
// oneDNN's fused kernels are other kernels than the pair's (their statistics differ from the
// pair's in the last bit), and the plane loops' masked sums vectorize differently.
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "op_harness.h"

namespace scaledl::optest {
namespace {

struct Case {
  Shape shape;
  BatchNormParams p;
};

const Case kCases[] = {
    {{2, 6, 7, 9}, {}},
    {{1, 4, 13, 5}, {}},
    {{8, 16, 3, 3}, {.eps = 1e-3f, .momentum = 0.2f}},
    {{4, 24, 2, 2}, {}},  // more channels than a vector register holds
};

struct Forward {
  Tensor y, save_mean, save_var, running_mean, running_var, workspace;  // on the backend
};

Forward forward(Backend be, const Case& c, const BnTensors& t, bool fused) {
  ScopedBackend guard(be);
  const int64_t C = t.x.dim(1);
  Forward o{poisoned(be, t.x.shape(), t.x.layout()),
            poisoned(be, {C}),
            poisoned(be, {C}),
            on(be, t.running_mean),
            on(be, t.running_var),
            Tensor()};
  if (fused) {
    ops::batchnorm_relu_forward_train(c.p, on(be, t.x), on(be, t.gamma), on(be, t.beta), o.y,
                                      o.save_mean, o.save_var, o.running_mean, o.running_var,
                                      o.workspace);
  } else {
    ops::batchnorm_forward_train(c.p, on(be, t.x), on(be, t.gamma), on(be, t.beta), o.y,
                                 o.save_mean, o.save_var, o.running_mean, o.running_var);
    ops::relu_forward(o.y, o.y);
  }
  return o;
}

struct Grads {
  Tensor dx, dgamma, dbeta;
};

// The fused backward with workspace `ws`, or the pair.
Grads backward(Backend be, const Case& c, const BnTensors& t, const Forward& f, bool fused,
               const Tensor& ws) {
  ScopedBackend guard(be);
  const int64_t C = t.x.dim(1);
  Grads g{poisoned(be, t.x.shape(), t.x.layout()), poisoned(be, {C}), poisoned(be, {C})};
  const Tensor x = on(be, t.x), dy = on(be, t.dy), gamma = on(be, t.gamma);
  if (fused) {
    ops::batchnorm_relu_backward(c.p, x, f.y, ws, dy, gamma, f.save_mean, f.save_var, g.dx,
                                 g.dgamma, g.dbeta);
  } else {
    Tensor masked = poisoned(be, t.x.shape(), t.x.layout());
    ops::relu_backward(f.y, dy, masked);
    ops::batchnorm_backward(c.p, x, masked, gamma, f.save_mean, f.save_var, g.dx, g.dgamma,
                            g.dbeta);
  }
  return {to_host(g.dx), to_host(g.dgamma), to_host(g.dbeta)};
}

std::string case_name(const Case& c, Layout l) {
  return shape_str(c.shape) + " " + std::string(layout_name(l));
}

// dx, dgamma and dbeta of `got` against `want`, each named after `what`.
void expect_grads_close(const std::string& what, const Grads& got, const Grads& want) {
  EXPECT_TRUE(all_close("dx, " + what, got.dx, want.dx));
  EXPECT_TRUE(all_close("dgamma, " + what, got.dgamma, want.dgamma));
  EXPECT_TRUE(all_close("dbeta, " + what, got.dbeta, want.dbeta));
}

// Fraction of zeros in y: the ReLU must clip a fair share for the mask to be tested.
double zero_fraction(const Tensor& y) {
  const Tensor h = to_host(y);
  int64_t zeros = 0;
  for (int64_t i = 0; i < h.numel(); ++i) zeros += h.data<float>()[i] == 0.f;
  return static_cast<double>(zeros) / static_cast<double>(h.numel());
}

// Calls body(case, layout, inputs) for every case on both layouts, inputs seeded from `seed` on.
void each_case(uint64_t seed,
               const std::function<void(const Case&, Layout, const BnTensors&)>& body) {
  for (const Case& c : kCases)
    for (Layout l : kLayouts) body(c, l, make_bn(c.shape, l, ++seed));
}

TEST(ConsistencyBatchNormRelu, FusedForwardEqualsTheUnfusedPair) {
  each_case(900, [](const Case& c, Layout l, const BnTensors& t) {
    const Forward want = forward(Backend::reference, c, t, false);
    const double zeros = zero_fraction(want.y);
    EXPECT_GT(zeros, 0.2) << case_name(c, l);
    EXPECT_LT(zeros, 0.8) << case_name(c, l);
    for (Backend be : all_backends("batchnorm_relu_forward_train")) {
      SCOPED_TRACE(std::string(backend_name(be)) + " " + case_name(c, l));
      const Forward pair = forward(be, c, t, false);
      const Forward got = forward(be, c, t, true);
      EXPECT_TRUE(all_close(tagged("y, fused vs pair", be), got.y, pair.y));
      EXPECT_TRUE(all_close(tagged("save_mean", be), got.save_mean, pair.save_mean));
      EXPECT_TRUE(all_close(tagged("save_var", be), got.save_var, pair.save_var));
      EXPECT_TRUE(all_close(tagged("running_var", be), got.running_var, pair.running_var));
      EXPECT_TRUE(all_close(with_backend("y", be), got.y, want.y));
      EXPECT_TRUE(all_close(with_backend("running_mean", be), got.running_mean, want.running_mean));
    }
  });
}

TEST(ConsistencyBatchNormRelu, FusedBackwardEqualsTheUnfusedPair) {
  each_case(950, [](const Case& c, Layout l, const BnTensors& t) {
    const Forward ref_fwd = forward(Backend::reference, c, t, true);
    const Grads want = backward(Backend::reference, c, t, ref_fwd, false, Tensor());
    for (Backend be : all_backends("batchnorm_relu_backward")) {
      SCOPED_TRACE(std::string(backend_name(be)) + " " + case_name(c, l));
      const Forward f = forward(be, c, t, true);
      const Grads pair = backward(be, c, t, f, false, Tensor());
      const Grads got = backward(be, c, t, f, true, f.workspace);
      // Without the backend's own workspace the mask comes from y: the same gradients.
      const Grads no_ws = backward(be, c, t, f, true, Tensor());
      expect_grads_close(tagged("fused vs pair", be), got, pair);
      expect_grads_close(tagged("mask from y", be), no_ws, pair);
      expect_grads_close(with_backend("vs the reference", be), got, want);
    }
  });
}

// A wrong mask (ReLU's gradient not applied) is caught: dx differs from the pair's.
TEST(ConsistencyBatchNormRelu, TheMaskMatters) {
  const Case c{{2, 6, 7, 9}, {}};
  const BnTensors t = make_bn(c.shape, Layout::nhwc, 42);
  const Forward f = forward(Backend::cpu, c, t, true);
  const Grads fused = backward(Backend::cpu, c, t, f, true, f.workspace);
  ScopedBackend guard(Backend::cpu);
  Tensor dx = Tensor::empty(c.shape, DType::f32, Device::cpu(), Layout::nhwc);
  Tensor dg = Tensor::empty({6}), db = Tensor::empty({6});
  ops::batchnorm_backward(c.p, t.x, t.dy, t.gamma, f.save_mean, f.save_var, dx, dg, db);
  EXPECT_FALSE(all_close("unmasked dx", dx, fused.dx));
}

TEST(ConsistencyBatchNormRelu, SupportedOnTheHostBackendsOnly) {
  for (const char* op : {"batchnorm_relu_forward_train", "batchnorm_relu_backward"}) {
    EXPECT_TRUE(supports(op, Backend::reference)) << op;
    EXPECT_TRUE(supports(op, Backend::cpu)) << op;
    // The Net runs the pair on the GPU.
    EXPECT_FALSE(supports(op, Backend::cuda)) << op;
  }
}

}  // namespace
}  // namespace scaledl::optest
