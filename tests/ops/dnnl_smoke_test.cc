// The oneDNN cpu backend on small hand-computed cases, in both layouts: conv, batchnorm,
// pooling (ceil mode, include-pad divisors), linear, loss, dropout, sgd and data movement.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "ops/ops.h"

namespace scaledl {
namespace {

using V = std::vector<float>;

class DnnlSmoke : public ::testing::TestWithParam<Layout> {};

// A [N,C,H,W] tensor in `l` from values listed in nchw order, and back.
Tensor make4(const Shape& s, const V& nchw, Layout l) {
  return to_layout(Tensor::from(s, nchw), l);
}
V nchw_values(const Tensor& t) {
  return to_layout(t, Layout::nchw).to_vector();
}

void expect_near(const V& got, const V& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

TEST_P(DnnlSmoke, Conv1x1WithBias) {
  const Layout l = GetParam();
  // x [1,2,1,2]: channel 0 = {1,2}, channel 1 = {3,4}.
  Tensor x = make4({1, 2, 1, 2}, {1, 2, 3, 4}, l);
  Tensor w = Tensor::from({3, 2, 1, 1}, {1, 0, 0, 1, 1, -1});
  Tensor b = Tensor::from({3}, {0.5f, 0, 10});
  Tensor y = Tensor::empty({1, 3, 1, 2}, DType::f32, Device::cpu(), l);
  cpu::conv2d_forward({}, x, w, b, y);
  expect_near(nchw_values(y), {1.5f, 2.5f, 3, 4, 8, 8});
}

TEST_P(DnnlSmoke, Conv3x3PaddedCountsNeighbours) {
  const Layout l = GetParam();
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  Tensor x = make4({1, 1, 3, 3}, V(9, 1.f), l);
  Tensor w = Tensor::from({1, 1, 3, 3}, V(9, 1.f));
  Tensor y = Tensor::empty({1, 1, 3, 3}, DType::f32, Device::cpu(), l);
  const V counts = {4, 6, 4, 6, 9, 6, 4, 6, 4};
  cpu::conv2d_forward(p, x, w, Tensor(), y);
  expect_near(nchw_values(y), counts);
  Tensor dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
  cpu::conv2d_backward_data(p, make4({1, 1, 3, 3}, V(9, 1.f), l), w, dx);
  expect_near(nchw_values(dx), counts);
  Tensor dw = Tensor::empty({1, 1, 3, 3});
  Tensor db = Tensor::empty({1});
  cpu::conv2d_backward_weights(p, x, make4({1, 1, 3, 3}, V(9, 1.f), l), dw, db);
  expect_near(dw.to_vector(), counts);
  expect_near(db.to_vector(), {9});
}

TEST_P(DnnlSmoke, ConvGroupedStridedDilated) {
  const Layout l = GetParam();
  Conv2dParams p;
  p.groups = 2;
  p.stride_h = p.stride_w = 2;
  p.dil_h = p.dil_w = 2;
  // x [1,2,5,5]: channel c holds value (c + 1) * (h * 5 + w).
  V xs(50);
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 25; ++i)
      xs[static_cast<size_t>(c * 25 + i)] = static_cast<float>((c + 1) * i);
  Tensor x = make4({1, 2, 5, 5}, xs, l);
  // Group 0 sums its 2x2 dilated taps, group 1 takes the top-left tap.
  Tensor w = Tensor::from({2, 1, 2, 2}, {1, 1, 1, 1, 1, 0, 0, 0});
  Tensor y = Tensor::empty({1, 2, 2, 2}, DType::f32, Device::cpu(), l);
  cpu::conv2d_forward(p, x, w, Tensor(), y);
  // Output (oh, ow) reads rows 2oh, 2oh+2 and columns 2ow, 2ow+2.
  V want(8);
  for (int oh = 0; oh < 2; ++oh)
    for (int ow = 0; ow < 2; ++ow) {
      const float tl = static_cast<float>(10 * oh + 2 * ow);
      want[static_cast<size_t>(oh * 2 + ow)] = 4 * tl + 2 + 10 + 12;
      want[static_cast<size_t>(4 + oh * 2 + ow)] = 2 * tl;
    }
  expect_near(nchw_values(y), want);
}

TEST_P(DnnlSmoke, ConvRejectsWrongChannels) {
  const Layout l = GetParam();
  Tensor x = Tensor::zeros({1, 3, 4, 4}, DType::f32, Device::cpu(), l);
  Tensor w = Tensor::zeros({8, 2, 3, 3});
  Tensor y = Tensor::zeros({1, 8, 2, 2}, DType::f32, Device::cpu(), l);
  EXPECT_THROW(ops::conv2d_forward({}, x, w, Tensor(), y), Error);  // validated before dispatch
}

TEST_P(DnnlSmoke, BatchNormTrainInferenceBackward) {
  const Layout l = GetParam();
  BatchNormParams p;
  p.eps = 0.f;
  // x [2,1,1,2] = {1,2,3,4}: mean 2.5, biased variance 1.25.
  Tensor x = make4({2, 1, 1, 2}, {1, 2, 3, 4}, l);
  Tensor gamma = Tensor::from({1}, {2});
  Tensor beta = Tensor::from({1}, {1});
  Tensor y = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
  Tensor mean = Tensor::empty({1}), var = Tensor::empty({1});
  Tensor rm = Tensor::from({1}, {0}), rv = Tensor::from({1}, {1});
  cpu::batchnorm_forward_train(p, x, gamma, beta, y, mean, var, rm, rv);
  const float sd = std::sqrt(1.25f);
  expect_near(nchw_values(y), {1 - 3 / sd, 1 - 1 / sd, 1 + 1 / sd, 1 + 3 / sd});
  expect_near(mean.to_vector(), {2.5f});
  expect_near(var.to_vector(), {1.25f});
  expect_near(rm.to_vector(), {0.25f});
  expect_near(rv.to_vector(), {0.9f + 0.1f * 1.25f * 4.f / 3.f});

  cpu::batchnorm_forward_inference(p, x, gamma, beta, mean, var, y);
  expect_near(nchw_values(y), {1 - 3 / sd, 1 - 1 / sd, 1 + 1 / sd, 1 + 3 / sd});

  // dy = 2 xhat: dbeta = 0, dgamma = 2 sum xhat^2 = 8, dx = 0 (dy lies in the span that
  // normalization removes).
  Tensor dy = make4({2, 1, 1, 2}, {-3 / sd, -1 / sd, 1 / sd, 3 / sd}, l);
  Tensor dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
  Tensor dg = Tensor::empty({1}), dbeta = Tensor::empty({1});
  cpu::batchnorm_backward(p, x, dy, gamma, mean, var, dx, dg, dbeta);
  expect_near(dg.to_vector(), {8});
  expect_near(dbeta.to_vector(), {0});
  expect_near(nchw_values(dx), {0, 0, 0, 0});
}

TEST_P(DnnlSmoke, MaxPoolCeilModeAndBackward) {
  const Layout l = GetParam();
  Pool2dParams p;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = 2;
  p.ceil_mode = true;
  V xs(16);
  for (int i = 0; i < 16; ++i) xs[static_cast<size_t>(i)] = static_cast<float>((i * 7) % 16);
  Tensor x = make4({1, 1, 4, 4}, xs, l);
  Tensor y = Tensor::empty({1, 1, 2, 2}, DType::f32, Device::cpu(), l);
  Tensor ws;
  cpu::maxpool2d_forward(p, x, y, ws);
  ASSERT_TRUE(ws.defined());
  // Windows cover rows/cols {0,1,2} and {2,3}; x = 7i mod 16 row-major.
  // rows: 0 7 14 5 | 12 3 10 1 | 8 15 6 13 | 4 11 2 9
  expect_near(nchw_values(y), {15, 14, 15, 13});
  Tensor dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
  cpu::maxpool2d_backward(p, x, y, ws, make4({1, 1, 2, 2}, {1, 2, 3, 4}, l), dx);
  V want(16, 0.f);
  want[9] = 1 + 3;  // 15, the max of windows 0 and 2
  want[2] = 2;      // 14
  want[11] = 4;     // 13
  expect_near(nchw_values(dx), want);
  // Without a workspace (another backend's forward) the max positions are recomputed.
  Tensor dx2 = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
  cpu::maxpool2d_backward(p, x, y, Tensor(), make4({1, 1, 2, 2}, {1, 2, 3, 4}, l), dx2);
  expect_near(nchw_values(dx2), want);
}

TEST_P(DnnlSmoke, AvgPoolCeilModeDividesLikePyTorch) {
  const Layout l = GetParam();
  Pool2dParams p;  // 2x2 stride 2 on 3x3, ceil mode: the last windows hold one row/column
  p.ceil_mode = true;
  for (bool include : {true, false}) {
    p.count_include_pad = include;
    Tensor x = make4({1, 1, 3, 3}, V(9, 1.f), l);
    Tensor y = Tensor::empty({1, 1, 2, 2}, DType::f32, Device::cpu(), l);
    cpu::avgpool2d_forward(p, x, y);
    expect_near(nchw_values(y), {1, 1, 1, 1});
    Tensor dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
    cpu::avgpool2d_backward(p, make4({1, 1, 2, 2}, V(4, 1.f), l), dx);
    expect_near(nchw_values(dx), {0.25f, 0.25f, 0.5f, 0.25f, 0.25f, 0.5f, 0.5f, 0.5f, 1});
  }
  // Padding counts when asked: 3x3 stride 1 pad 1 on ones, corner = 4/9 with padding.
  Pool2dParams q;
  q.kernel_h = q.kernel_w = 3;
  q.stride_h = q.stride_w = 1;
  q.pad_h = q.pad_w = 1;
  Tensor x = make4({1, 1, 2, 2}, V(4, 1.f), l);
  Tensor y = Tensor::empty({1, 1, 2, 2}, DType::f32, Device::cpu(), l);
  cpu::avgpool2d_forward(q, x, y);
  expect_near(nchw_values(y), V(4, 4.f / 9.f));
  q.count_include_pad = false;
  cpu::avgpool2d_forward(q, x, y);
  expect_near(nchw_values(y), V(4, 1.f));
}

TEST_P(DnnlSmoke, GlobalAvgPool) {
  const Layout l = GetParam();
  Tensor x = make4({1, 2, 2, 2}, {1, 2, 3, 4, 10, 20, 30, 40}, l);
  Tensor y = Tensor::empty({1, 2});
  cpu::global_avgpool_forward(x, y);
  expect_near(y.to_vector(), {2.5f, 25});
  Tensor dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
  cpu::global_avgpool_backward(Tensor::from({1, 2}, {4, 8}), dx);
  expect_near(nchw_values(dx), {1, 1, 1, 1, 2, 2, 2, 2});
}

TEST_P(DnnlSmoke, ConcatSplitReorder) {
  const Layout l = GetParam();
  Tensor a = make4({1, 1, 1, 2}, {1, 2}, l);
  Tensor b = make4({1, 2, 1, 2}, {3, 4, 5, 6}, l);
  Tensor y = Tensor::empty({1, 3, 1, 2}, DType::f32, Device::cpu(), l);
  cpu::concat_channels({a, b}, y);
  expect_near(nchw_values(y), {1, 2, 3, 4, 5, 6});
  std::vector<Tensor> parts = {Tensor::empty({1, 2, 1, 2}, DType::f32, Device::cpu(), l),
                               Tensor::empty({1, 1, 1, 2}, DType::f32, Device::cpu(), l)};
  cpu::split_channels(y, parts);
  expect_near(nchw_values(parts[0]), {1, 2, 3, 4});
  expect_near(nchw_values(parts[1]), {5, 6});
  const Layout other = l == Layout::nchw ? Layout::nhwc : Layout::nchw;
  Tensor z = Tensor::empty(y.shape(), DType::f32, Device::cpu(), other);
  cpu::reorder(y, z);
  expect_near(nchw_values(z), {1, 2, 3, 4, 5, 6});
}

// Channel counts where oneDNN picks blocked layouts (the nchw path reorders through them).
TEST_P(DnnlSmoke, WideConvMatchesReference) {
  const Layout l = GetParam();
  Rng rng(7);
  auto random = [&](const Shape& s, Layout lay) {
    Tensor t = Tensor::empty(s, DType::f32, Device::cpu(), lay);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = rng.uniform(-1.f, 1.f);
    return t;
  };
  auto close = [](const Tensor& got, const Tensor& want) {
    const V g = got.ndim() == 4 ? nchw_values(got) : got.to_vector();
    const V w = want.ndim() == 4 ? nchw_values(want) : want.to_vector();
    for (size_t i = 0; i < g.size(); ++i)
      ASSERT_NEAR(g[i], w[i], 1e-4f * (1.f + std::fabs(w[i]))) << "at " << i;
  };
  for (int groups : {1, 2, 32}) {
    SCOPED_TRACE("groups " + std::to_string(groups));
    Conv2dParams p;
    p.stride_h = p.stride_w = 2;
    p.pad_h = p.pad_w = 1;
    p.groups = groups;
    const int64_t O = groups == 32 ? 64 : 48;
    Tensor x = random({2, 32, 11, 10}, l), w = random({O, 32 / groups, 3, 3}, Layout::nchw);
    Tensor b = random({O}, Layout::nchw), dy = random({2, O, 6, 5}, l);
    Tensor y = Tensor::empty(dy.shape(), DType::f32, Device::cpu(), l), y_ref = y.clone();
    cpu::conv2d_forward(p, x, w, b, y);
    ref::conv2d_forward(p, x, w, b, y_ref);
    close(y, y_ref);
    Tensor dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l), dx_ref = dx.clone();
    cpu::conv2d_backward_data(p, dy, w, dx);
    ref::conv2d_backward_data(p, dy, w, dx_ref);
    close(dx, dx_ref);
    Tensor dw = Tensor::empty(w.shape()), dw_ref = dw.clone();
    Tensor db = Tensor::empty({O}), db_ref = db.clone();
    cpu::conv2d_backward_weights(p, x, dy, dw, db);
    ref::conv2d_backward_weights(p, x, dy, dw_ref, db_ref);
    close(dw, dw_ref);
    close(db, db_ref);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, DnnlSmoke, ::testing::Values(Layout::nchw, Layout::nhwc),
                         [](const auto& info) { return std::string(layout_name(info.param)); });

TEST(DnnlSmokeFlat, LinearForwardBackward) {
  Tensor x = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w = Tensor::from({2, 3}, {1, 0, -1, 0.5f, 0.5f, 0.5f});
  Tensor b = Tensor::from({2}, {1, -1});
  Tensor y = Tensor::empty({2, 2});
  cpu::linear_forward(x, w, b, y);
  expect_near(y.to_vector(), {-1, 2, -1, 6.5f});
  Tensor dy = Tensor::from({2, 2}, {1, 0, 0, 2});
  Tensor dx = Tensor::empty({2, 3});
  cpu::linear_backward_data(dy, w, dx);
  expect_near(dx.to_vector(), {1, 0, -1, 1, 1, 1});
  Tensor dw = Tensor::empty({2, 3}), db = Tensor::empty({2});
  cpu::linear_backward_weights(x, dy, dw, db);
  expect_near(dw.to_vector(), {1, 2, 3, 8, 10, 12});
  expect_near(db.to_vector(), {1, 2});
  Tensor no_bias;
  cpu::linear_backward_weights(x, dy, dw, no_bias);
  expect_near(dw.to_vector(), {1, 2, 3, 8, 10, 12});
}

TEST(DnnlSmokeFlat, SoftmaxCrossEntropy) {
  Tensor logits = Tensor::zeros({2, 4});
  Tensor labels = Tensor::empty({2}, DType::s32);
  labels.data<int32_t>()[0] = 0;
  labels.data<int32_t>()[1] = 3;
  Tensor loss = Tensor::empty({1}), d = Tensor::empty({2, 4});
  cpu::softmax_cross_entropy(logits, labels, 0.f, loss, d);
  EXPECT_NEAR(loss.at(0), std::log(4.f), 1e-6f);
  expect_near(d.to_vector(), {-0.375f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, -0.375f});
  // Smoothing against uniform logits changes nothing in the loss; the target spreads.
  cpu::softmax_cross_entropy(logits, labels, 0.4f, loss, d);
  EXPECT_NEAR(loss.at(0), std::log(4.f), 1e-6f);
  EXPECT_NEAR(d.at(0), (0.25f - 0.7f) / 2, 1e-6f);
  EXPECT_NEAR(d.at(1), (0.25f - 0.1f) / 2, 1e-6f);
  labels.data<int32_t>()[1] = 4;
  EXPECT_THROW(cpu::softmax_cross_entropy(logits, labels, 0.f, loss, d), Error);
}

TEST(DnnlSmokeFlat, ReluAddDropoutSgd) {
  Tensor x = Tensor::from({4}, {-1, 2, 0, 3});
  Tensor y = Tensor::empty({4});
  cpu::relu_forward(x, y);
  expect_near(y.to_vector(), {0, 2, 0, 3});
  Tensor dx = Tensor::empty({4});
  cpu::relu_backward(y, Tensor::from({4}, {5, 6, 7, 8}), dx);
  expect_near(dx.to_vector(), {0, 6, 0, 8});
  cpu::add(x, y, y);  // y aliases b
  expect_near(y.to_vector(), {-1, 4, 0, 6});

  Tensor big = Tensor::empty({1000});
  big.fill(1.f);
  Tensor out = Tensor::empty({1000}), mask;
  cpu::dropout_forward(0.25f, 42, big, out, mask);
  for (int64_t i = 0; i < 1000; ++i) {
    const bool keep = bits_to_unit(hash_words(42, static_cast<uint64_t>(i))) >= 0.25f;
    ASSERT_EQ(mask.data<uint8_t>()[i], keep ? 1 : 0);
    ASSERT_EQ(out.at(i), keep ? 1.f / 0.75f : 0.f);
  }
  Tensor g = Tensor::empty({1000});
  cpu::dropout_backward(0.25f, mask, big, g);
  expect_near(g.to_vector(), out.to_vector());

  SgdParams p;
  p.lr = 0.5f;
  p.momentum = 0.5f;
  p.weight_decay = 0.1f;
  p.grad_scale = 2.f;
  Tensor w = Tensor::from({2}, {1, -2}), grad = Tensor::from({2}, {1, 1});
  Tensor m = Tensor::from({2}, {1, 0});
  cpu::sgd_update(p, w, grad, m);
  // g = 2 + 0.1 w = {2.1, 1.8}; m = {0.5 + 2.1, 1.8}; w -= 0.5 m.
  expect_near(m.to_vector(), {2.6f, 1.8f});
  expect_near(w.to_vector(), {1 - 1.3f, -2 - 0.9f});
  p.nesterov = true;
  w = Tensor::from({1}, {1});
  grad = Tensor::from({1}, {1});
  m = Tensor::from({1}, {1});
  cpu::sgd_update(p, w, grad, m);
  // g = 2.1, m = 2.6, w -= 0.5 * (2.1 + 1.3).
  expect_near(w.to_vector(), {1 - 1.7f});
}

}  // namespace
}  // namespace scaledl
