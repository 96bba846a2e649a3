// Consistency of conv2d (forward, backward data, backward weights): every backend against the
// reference on varied shapes and both layouts, and the reference's gradients against finite
// differences.
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "op_harness.h"

namespace scaledl::optest {
namespace {

struct ConvCase {
  const char* name;
  int64_t N, C, H, W, O, KH, KW;
  Conv2dParams p;
  bool bias;
};

const ConvCase kConvCases[] = {
    {"1x1", 2, 8, 7, 9, 16, 1, 1, {}, true},
    {"3x3 pad1 batch1 13x5", 1, 3, 13, 5, 4, 3, 3, {.pad_h = 1, .pad_w = 1}, true},
    {"3x3 stride2 pad1 no bias",
     2,
     6,
     9,
     7,
     8,
     3,
     3,
     {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
     false},
    {"3x3 dilation2 pad2",
     2,
     4,
     11,
     10,
     5,
     3,
     3,
     {.pad_h = 2, .pad_w = 2, .dil_h = 2, .dil_w = 2},
     true},
    {"3x3 groups2", 3, 8, 7, 9, 6, 3, 3, {.pad_h = 1, .pad_w = 1, .groups = 2}, true},
    {"3x3 depthwise stride2 no bias",
     2,
     8,
     13,
     5,
     8,
     3,
     3,
     {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 8},
     false},
    {"3x3 depthwise multiplier2", 1, 4, 7, 9, 8, 3, 3, {.pad_h = 1, .pad_w = 1, .groups = 4}, true},
    {"7x7 stride2 pad3 stem",
     2,
     3,
     15,
     13,
     8,
     7,
     7,
     {.stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3},
     true},
    {"1x3 stride(1,2) pad(0,1)", 2, 5, 6, 11, 7, 1, 3, {.stride_w = 2, .pad_w = 1}, true},
    {"5x5 stride2 dilation2 groups2 no pad",
     2,
     4,
     13,
     12,
     6,
     5,
     5,
     {.stride_h = 2, .stride_w = 2, .dil_h = 2, .dil_w = 2, .groups = 2},
     false},
    {"1x1 stride2 batch1", 1, 16, 8, 8, 4, 1, 1, {.stride_h = 2, .stride_w = 2}, true},
    // The backward passes of 1x1 convolutions without bias on nhwc run as matrix products
    // (backend/cpu/dnnl_conv_pointwise.cc); a stride gathers and scatters rows.
    {"1x1 no bias", 2, 8, 5, 6, 12, 1, 1, {}, false},
    {"1x1 stride2 odd plane no bias", 2, 8, 9, 7, 12, 1, 1, {.stride_h = 2, .stride_w = 2}, false},
    {"1x1 stride(1,3) no bias", 1, 4, 5, 8, 6, 1, 1, {.stride_w = 3}, false},
};

// Small cases for the finite-difference checks (each probe runs the forward twice).
const ConvCase kConvGradCases[] = {
    {"3x3 pad1 stride2",
     2,
     3,
     7,
     6,
     4,
     3,
     3,
     {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
     true},
    {"3x3 dilation2 groups2 pad2",
     2,
     4,
     7,
     9,
     4,
     3,
     3,
     {.pad_h = 2, .pad_w = 2, .dil_h = 2, .dil_w = 2, .groups = 2},
     true},
    {"3x3 depthwise stride2 no bias",
     1,
     3,
     9,
     7,
     3,
     3,
     3,
     {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 3},
     false},
    {"7x7 stride2 pad3",
     1,
     2,
     9,
     8,
     3,
     7,
     7,
     {.stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3},
     true},
    {"1x1", 3, 5, 4, 3, 2, 1, 1, {}, true},
};

std::string describe(const ConvCase& c, Layout l) {
  return std::string("conv '") + c.name + "' x [" + std::to_string(c.N) + "," +
         std::to_string(c.C) + "," + std::to_string(c.H) + "," + std::to_string(c.W) + "] " +
         std::string(layout_name(l)) + ", w [" + std::to_string(c.O) + "," +
         std::to_string(c.C / c.p.groups) + "," + std::to_string(c.KH) + "," +
         std::to_string(c.KW) + "], stride " + std::to_string(c.p.stride_h) + "x" +
         std::to_string(c.p.stride_w) + ", pad " + std::to_string(c.p.pad_h) + "x" +
         std::to_string(c.p.pad_w) + ", dilation " + std::to_string(c.p.dil_h) + "x" +
         std::to_string(c.p.dil_w) + ", groups " + std::to_string(c.p.groups) +
         (c.bias ? ", bias" : ", no bias");
}

Shape out_shape(const ConvCase& c) {
  return {c.N, c.O, conv_out_size(c.H, static_cast<int>(c.KH), c.p.stride_h, c.p.pad_h, c.p.dil_h),
          conv_out_size(c.W, static_cast<int>(c.KW), c.p.stride_w, c.p.pad_w, c.p.dil_w)};
}

// The inputs of one case: x, w, b (undefined without bias) and an output gradient dy.
struct ConvInputs {
  Tensor x, w, b, dy;
};

ConvInputs make_inputs(const ConvCase& c, Layout l, uint64_t seed) {
  Rng rng(seed);
  ConvInputs in;
  in.x = random_tensor(rng, {c.N, c.C, c.H, c.W}, l);
  in.w = random_tensor(rng, {c.O, c.C / c.p.groups, c.KH, c.KW}, Layout::nchw, -0.5f, 0.5f);
  if (c.bias) in.b = random_tensor(rng, {c.O});
  in.dy = random_tensor(rng, out_shape(c), l);
  return in;
}

Tensor conv_forward(Backend be, const ConvCase& c, const Tensor& x, const Tensor& w,
                    const Tensor& b) {
  ScopedBackend guard(be);
  Tensor y = poisoned(be, out_shape(c), x.layout());
  ops::conv2d_forward(c.p, on(be, x), on(be, w), on(be, b), y);
  return to_host(y);
}

Tensor conv_backward_data(Backend be, const ConvCase& c, const Tensor& dy, const Tensor& w) {
  ScopedBackend guard(be);
  Tensor dx = poisoned(be, {c.N, c.C, c.H, c.W}, dy.layout());
  ops::conv2d_backward_data(c.p, on(be, dy), on(be, w), dx);
  return to_host(dx);
}

// {dw, db}; db undefined without bias.
std::pair<Tensor, Tensor> conv_backward_weights(Backend be, const ConvCase& c, const Tensor& x,
                                                const Tensor& dy) {
  ScopedBackend guard(be);
  Tensor dw = poisoned(be, {c.O, c.C / c.p.groups, c.KH, c.KW});
  Tensor db = c.bias ? poisoned(be, {c.O}) : Tensor();
  ops::conv2d_backward_weights(c.p, on(be, x), on(be, dy), dw, db);
  return {to_host(dw), to_host(db)};
}

TEST(ConsistencyConv, ForwardMatchesReference) {
  uint64_t seed = 100;
  for (const ConvCase& c : kConvCases)
    for (Layout l : kLayouts) {
      const std::string what = "conv2d_forward y, " + describe(c, l);
      const ConvInputs in = make_inputs(c, l, ++seed);
      const Tensor want = conv_forward(Backend::reference, c, in.x, in.w, in.b);
      for_each_backend("conv2d_forward", [&](Backend be) {
        EXPECT_TRUE(all_close(with_backend(what, be), conv_forward(be, c, in.x, in.w, in.b), want));
      });
    }
}

TEST(ConsistencyConv, BackwardDataMatchesReference) {
  uint64_t seed = 200;
  for (const ConvCase& c : kConvCases)
    for (Layout l : kLayouts) {
      const std::string what = "conv2d_backward_data dx, " + describe(c, l);
      const ConvInputs in = make_inputs(c, l, ++seed);
      const Tensor want = conv_backward_data(Backend::reference, c, in.dy, in.w);
      for_each_backend("conv2d_backward_data", [&](Backend be) {
        EXPECT_TRUE(
            all_close(with_backend(what, be), conv_backward_data(be, c, in.dy, in.w), want));
      });
    }
}

TEST(ConsistencyConv, BackwardWeightsMatchesReference) {
  uint64_t seed = 300;
  for (const ConvCase& c : kConvCases)
    for (Layout l : kLayouts) {
      const ConvInputs in = make_inputs(c, l, ++seed);
      const auto [want_dw, want_db] = conv_backward_weights(Backend::reference, c, in.x, in.dy);
      for_each_backend("conv2d_backward_weights", [&](Backend be) {
        const auto [dw, db] = conv_backward_weights(be, c, in.x, in.dy);
        EXPECT_TRUE(all_close(with_backend("conv2d_backward_weights dw, " + describe(c, l), be), dw,
                              want_dw));
        if (c.bias) {
          EXPECT_TRUE(all_close(with_backend("conv2d_backward_weights db, " + describe(c, l), be),
                                db, want_db));
        }
      });
    }
}

// PyTorch semantics pinned by hand: dilation 2 means taps two pixels apart.
TEST(ConsistencyConv, ReferenceDilationIsPyTorchs) {
  std::vector<float> ramp(25);
  for (int i = 0; i < 25; ++i) ramp[i] = static_cast<float>(i);
  const Tensor x = Tensor::from({1, 1, 5, 5}, ramp);
  Tensor w = Tensor::empty({1, 1, 2, 2});
  w.fill(1.f);
  const ConvCase c{"hand", 1, 1, 5, 5, 1, 2, 2, {.dil_h = 2, .dil_w = 2}, false};
  const Tensor y = conv_forward(Backend::reference, c, x, w, Tensor());
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(y.at(0), 0.f + 2 + 10 + 12);
  EXPECT_EQ(y.at(8), 12.f + 14 + 22 + 24);
}

TEST(ConsistencyConv, RejectsChannelMismatch) {
  const Tensor x = Tensor::zeros({1, 6, 5, 5});
  const Tensor w = Tensor::zeros({4, 4, 3, 3});  // needs 4 * groups = 6 input channels
  for (Backend be : all_backends("conv2d_forward")) {
    SCOPED_TRACE(std::string(backend_name(be)));
    ScopedBackend guard(be);
    Tensor y = poisoned(be, {1, 4, 3, 3});
    try {
      ops::conv2d_forward(Conv2dParams{}, on(be, x), on(be, w), Tensor(), y);
      ADD_FAILURE() << "conv2d_forward accepted 6 input channels for weights of 4 channels";
    } catch (const Error& e) {
      EXPECT_EQ(e.component(), "conv2d_forward");
      if (be == Backend::reference) {
        EXPECT_NE(std::string(e.what()).find("f32[4,4,3,3]"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(GradientConv, ReferenceMatchesFiniteDifferences) {
  uint64_t seed = 400;
  for (const ConvCase& c : kConvGradCases)
    for (Layout l : kLayouts) {
      const std::string what = describe(c, l);
      ConvInputs in = make_inputs(c, l, ++seed);
      const Tensor& r = in.dy;  // L = sum(y * r), so dL/dy = r
      auto forward = [&] { return conv_forward(Backend::reference, c, in.x, in.w, in.b); };
      const Tensor dx = conv_backward_data(Backend::reference, c, r, in.w);
      const auto [dw, db] = conv_backward_weights(Backend::reference, c, in.x, r);
      EXPECT_TRUE(check_gradient("conv2d dx, " + what, in.x, dx, forward, r));
      EXPECT_TRUE(check_gradient("conv2d dw, " + what, in.w, dw, forward, r));
      if (c.bias) {
        EXPECT_TRUE(check_gradient("conv2d db, " + what, in.b, db, forward, r));
      }
    }
}

}  // namespace
}  // namespace scaledl::optest
