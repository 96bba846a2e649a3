// int8 in the Engine against a quantized reference computed here: inputs quantized per tensor,
// weights s8 per output channel, products summed exactly in integers, then the one final scale
// (and a fused ReLU / residual) applied. Also calibration end to end on a small ResNet.
#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "infer/calibration.h"
#include "infer/engine.h"
#include "infer_models.h"

namespace scaledl {
namespace {

using infer::Engine;
using infer::EngineOptions;
using infer::Precision;

int32_t q8(float x, float scale, bool u8) {
  const float r = std::nearbyint(x * scale);
  return static_cast<int32_t>(std::clamp(r, u8 ? 0.f : -128.f, u8 ? 255.f : 127.f));
}

void fill(Tensor& t, uint64_t seed, float lo, float hi) {
  Rng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = r.uniform(lo, hi);
}

// conv 3x3 (pad 1) of `in` channels to `out`, with bias, as the only node (output f32).
TEST(InferInt8, ConvolutionEqualsTheIntegerReference) {
  const int64_t N = 2, C = 5, H = 6, W = 7, O = 4;
  Graph g("conv", Shape{C, H, W});
  g.conv(g.input(), static_cast<int>(O), 3, 1, 1, "conv", 1, true);
  Node& n = g.node(1);
  n.values["weight"] = Tensor::empty({O, C, 3, 3});
  n.values["bias"] = Tensor::empty({O});
  fill(n.values["weight"], 1, -0.5f, 0.5f);
  fill(n.values["bias"], 2, -0.2f, 0.2f);
  Tensor x = Tensor::empty({N, C, H, W});
  fill(x, 3, -1.f, 1.f);
  const float T = 0.8f;  // clips the inputs beyond 0.8
  EngineOptions o;
  o.precision = Precision::int8;
  o.max_batch = N;
  o.thresholds = {{"input", T}, {"conv", 1.f}};
  Engine e(g, o);
  const Tensor& y = e.run(x);
  const float sx = 127.f / T;
  const float* w = n.values["weight"].data<float>();
  for (int64_t oc = 0; oc < O; ++oc) {
    float m = 0;
    for (int64_t k = 0; k < C * 9; ++k) m = std::max(m, std::fabs(w[oc * C * 9 + k]));
    const float sw = 127.f / m * e.weight_scale_adjust("conv");
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          int64_t acc = 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ki = 0; ki < 3; ++ki)
              for (int64_t kj = 0; kj < 3; ++kj) {
                const int64_t ii = i + ki - 1, jj = j + kj - 1;
                if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
                acc += int64_t{q8(x.data<float>()[((b * C + c) * H + ii) * W + jj], sx, false)} *
                       q8(w[((oc * C + c) * 3 + ki) * 3 + kj], sw, false);
              }
          const double want =
              (static_cast<double>(acc) + n.values["bias"].data<float>()[oc] * sx * sw) / (sx * sw);
          EXPECT_NEAR(y.data<float>()[((b * O + oc) * H + i) * W + j], want,
                      1e-5 * (1 + std::fabs(want)))
              << "at " << b << "," << oc << "," << i << "," << j;
        }
  }
}

// linear with a fused ReLU feeding a second linear: the first's output requantized to u8.
TEST(InferInt8, LinearChainRequantizesLikeTheReference) {
  const int64_t N = 3, F = 16, M = 8, K = 5;
  Graph g("mlp", Shape{F});
  g.relu(g.linear(g.input(), static_cast<int>(M), "fc1"));
  g.linear(g.output(), static_cast<int>(K), "fc2", false);
  Net net(g);
  net.init(4);
  Graph v = net.graph_with_values();
  Tensor x = Tensor::empty({N, F});
  fill(x, 5, -1.f, 1.f);
  const float Tin = 1.f, Th = 0.6f;
  EngineOptions o;
  o.precision = Precision::int8;
  o.max_batch = N;
  o.thresholds = {{"input", Tin}, {"fc1", Th}, {"fc2", 1.f}};
  Engine e(v, o);
  EXPECT_EQ(e.graph().size(), 3);  // input, fc1 (ReLU fused), fc2
  const Tensor& y = e.run(x);
  auto wscale = [&](const Tensor& w, int64_t r, const char* node) {
    float m = 0;
    for (int64_t k = 0; k < w.dim(1); ++k)
      m = std::max(m, std::fabs(w.data<float>()[r * w.dim(1) + k]));
    return 127.f / m * e.weight_scale_adjust(node);
  };
  const Tensor& w1 = v.node(1).value("weight");
  const Tensor& b1 = v.node(1).value("bias");
  const Tensor& w2 = v.node(3).value("weight");
  const float sx = 127.f / Tin, sh = 255.f / Th;
  for (int64_t b = 0; b < N; ++b) {
    std::vector<int32_t> h(M);
    for (int64_t m = 0; m < M; ++m) {
      const float sw = wscale(w1, m, "fc1");
      int64_t acc = 0;
      for (int64_t f = 0; f < F; ++f)
        acc += int64_t{q8(x.data<float>()[b * F + f], sx, false)} *
               q8(w1.data<float>()[m * F + f], sw, false);
      const float hq = static_cast<float>((acc + b1.data<float>()[m] * sx * sw) * (sh / (sx * sw)));
      h[m] = q8(std::max(hq, 0.f) / sh, sh, true);
    }
    for (int64_t k = 0; k < K; ++k) {
      const float sw = wscale(w2, k, "fc2");
      int64_t acc = 0;
      for (int64_t m = 0; m < M; ++m)
        acc += int64_t{h[m]} * q8(w2.data<float>()[k * M + m], sw, false);
      const double want = static_cast<double>(acc) / (sh * sw);
      // One u8 step of the hidden layer may round the other way: allow one quantum of it.
      EXPECT_NEAR(y.data<float>()[b * K + k], want, 1.01 * 0.6 / 255 * 1.5 + 1e-5) << b << "," << k;
    }
  }
}

TEST(InferInt8, CalibratedResnetStaysCloseToFp32) {
  const Graph g = testing::model_with_values("resnet18", 3, 32, 10);
  Tensor calib = testing::random_images({16, 3, 32, 32}, 21);
  // Like a normalized Fashion-MNIST image: mostly one background value, bright strokes between.
  for (int64_t i = 0; i < calib.numel(); ++i)
    if (i % 10 != 0) calib.data<float>()[i] = -0.8f;
  int calls = 0;
  infer::CalibOptions co;
  co.batch = 8;
  const CalibCache cache = infer::calibrate(
      g,
      [&](Tensor& x) {
        if (calls == 2) return false;
        x = calib.view({8, 3, 32, 32}, calls++ * 8 * 3 * 32 * 32).clone();
        return true;
      },
      co);
  EXPECT_EQ(cache.images, 16);
  // The input is never clipped (the KL search would put it at the background's 0.8).
  EXPECT_EQ(cache.tensors.at("input").threshold, cache.tensors.at("input").max_abs);
  EXPECT_GT(cache.tensors.at("input").threshold, 1.9f);
  EXPECT_EQ(cache.model_hash, infer::model_hash(g));
  EngineOptions o;
  o.max_batch = 4;
  Tensor x = testing::random_images({4, 3, 32, 32}, 22);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (i % 10 != 0) x.data<float>()[i] = -0.8f;
  const Tensor ref = Engine(g, o).run(x).clone();
  o.precision = Precision::int8;
  o.thresholds = infer::thresholds_of(cache);
  Engine e(g, o);
  EXPECT_TRUE(e.nodes_not_quantized().empty());
  EXPECT_LT(testing::relative_error(e.run(x), ref), 0.1);
  o.keep_fp32 = {"first", "last"};
  Engine kept(g, o);
  EXPECT_EQ(kept.nodes_not_quantized().size(), 2u);
}

}  // namespace
}  // namespace scaledl
