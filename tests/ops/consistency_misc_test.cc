// Consistency of linear, softmax cross-entropy, relu, add, dropout, concat/split, reorder and the
// SGD update: every backend against the reference, hand-computed values where the semantics
// matter, and the reference's gradients against finite differences.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "op_harness.h"

namespace scaledl::optest {
namespace {

// ---------------------------------------------------------------------------------------------
// The harness itself can fail

TEST(ConsistencyHarness, ComparisonAndFiniteDifferencesCatchErrors) {
  Rng rng(1900);
  const Tensor want = random_tensor(rng, {2, 3, 4, 5}, Layout::nhwc);
  Tensor got = want.clone();
  EXPECT_TRUE(all_close("same", got, want));
  got.data<float>()[17] += 1e-3f;
  const ::testing::AssertionResult off = all_close("one off", got, want);
  EXPECT_FALSE(off);
  // Element 17 of nhwc [2,3,4,5] is logical [0, 2, 1, 0].
  EXPECT_NE(std::string(off.message()).find("worst at [0, 2, 1, 0]"), std::string::npos)
      << off.message();
  got.data<float>()[17] = NAN;  // an output element a kernel never wrote
  EXPECT_FALSE(all_close("unwritten", got, want));
  EXPECT_TRUE(all_close("other layout", to_layout(want, Layout::nchw), want));

  // relu's gradient, and the same gradient with a flipped sign or dropped element.
  Tensor x = random_away_from_zero(rng, {3, 4}, Layout::nchw, 0.1f);
  const Tensor r = random_tensor(rng, {3, 4});
  auto forward = [&] {
    ScopedBackend guard(Backend::reference);
    Tensor y = Tensor::empty({3, 4});
    ops::relu_forward(x, y);
    return y;
  };
  Tensor dx = Tensor::empty({3, 4});
  for (int64_t i = 0; i < 12; ++i) dx.data<float>()[i] = x.at(i) > 0 ? r.at(i) : 0.f;
  EXPECT_TRUE(check_gradient("relu", x, dx, forward, r));
  Tensor flipped = dx.clone();
  for (int64_t i = 0; i < 12; ++i) flipped.data<float>()[i] = -dx.at(i);
  EXPECT_FALSE(check_gradient("relu flipped", x, flipped, forward, r));
  Tensor dropped = dx.clone();
  for (int64_t i = 0; i < 12; ++i)
    if (dx.at(i) != 0.f) {
      dropped.data<float>()[i] = 0.f;
      break;
    }
  EXPECT_FALSE(check_gradient("relu dropped", x, dropped, forward, r));
}

// ---------------------------------------------------------------------------------------------
// Linear

struct LinearCase {
  int64_t N, K, M;
  bool bias;
};

const LinearCase kLinearCases[] = {
    {5, 13, 7, true}, {1, 32, 10, false}, {8, 3, 1, true}, {16, 64, 33, true}};

std::string describe(const LinearCase& c) {
  return "x [" + std::to_string(c.N) + "," + std::to_string(c.K) + "], w [" + std::to_string(c.M) +
         "," + std::to_string(c.K) + "]" + (c.bias ? ", bias" : ", no bias");
}

struct LinearInputs {
  Tensor x, w, b, dy;
};

LinearInputs make_linear(const LinearCase& c, uint64_t seed) {
  Rng rng(seed);
  LinearInputs in{random_tensor(rng, {c.N, c.K}),
                  random_tensor(rng, {c.M, c.K}, Layout::nchw, -0.5f, 0.5f), Tensor(), Tensor()};
  if (c.bias) in.b = random_tensor(rng, {c.M});
  in.dy = random_tensor(rng, {c.N, c.M});
  return in;
}

Tensor linear_forward(Backend be, const LinearInputs& in) {
  ScopedBackend guard(be);
  Tensor y = poisoned(be, {in.x.dim(0), in.w.dim(0)});
  ops::linear_forward(on(be, in.x), on(be, in.w), on(be, in.b), y);
  return to_host(y);
}

Tensor linear_backward_data(Backend be, const LinearInputs& in, const Tensor& dy) {
  ScopedBackend guard(be);
  Tensor dx = poisoned(be, in.x.shape());
  ops::linear_backward_data(on(be, dy), on(be, in.w), dx);
  return to_host(dx);
}

std::pair<Tensor, Tensor> linear_backward_weights(Backend be, const LinearInputs& in,
                                                  const Tensor& dy) {
  ScopedBackend guard(be);
  Tensor dw = poisoned(be, in.w.shape());
  Tensor db = in.b.defined() ? poisoned(be, in.b.shape()) : Tensor();
  ops::linear_backward_weights(on(be, in.x), on(be, dy), dw, db);
  return {to_host(dw), to_host(db)};
}

TEST(ConsistencyLinear, ForwardAndBackwardMatchReference) {
  uint64_t seed = 2000;
  for (const LinearCase& c : kLinearCases) {
    const LinearInputs in = make_linear(c, ++seed);
    const Tensor want_y = linear_forward(Backend::reference, in);
    const Tensor want_dx = linear_backward_data(Backend::reference, in, in.dy);
    const auto [want_dw, want_db] = linear_backward_weights(Backend::reference, in, in.dy);
    for_each_backend("linear_forward", [&](Backend be) {
      EXPECT_TRUE(all_close(with_backend("linear_forward y, " + describe(c), be),
                            linear_forward(be, in), want_y));
    });
    for_each_backend("linear_backward_data", [&](Backend be) {
      EXPECT_TRUE(all_close(with_backend("linear_backward_data dx, " + describe(c), be),
                            linear_backward_data(be, in, in.dy), want_dx));
    });
    for_each_backend("linear_backward_weights", [&](Backend be) {
      const auto [dw, db] = linear_backward_weights(be, in, in.dy);
      EXPECT_TRUE(
          all_close(with_backend("linear_backward_weights dw, " + describe(c), be), dw, want_dw));
      if (c.bias) {
        EXPECT_TRUE(
            all_close(with_backend("linear_backward_weights db, " + describe(c), be), db, want_db));
      }
    });
  }
}

TEST(GradientLinear, ReferenceMatchesFiniteDifferences) {
  uint64_t seed = 2100;
  for (const LinearCase& c : {LinearCase{4, 9, 5, true}, LinearCase{1, 6, 3, false}}) {
    LinearInputs in = make_linear(c, ++seed);
    const Tensor& r = in.dy;
    auto forward = [&] { return linear_forward(Backend::reference, in); };
    const auto [dw, db] = linear_backward_weights(Backend::reference, in, r);
    EXPECT_TRUE(check_gradient("linear dx, " + describe(c), in.x,
                               linear_backward_data(Backend::reference, in, r), forward, r));
    EXPECT_TRUE(check_gradient("linear dw, " + describe(c), in.w, dw, forward, r));
    if (c.bias) {
      EXPECT_TRUE(check_gradient("linear db, " + describe(c), in.b, db, forward, r));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy

// {loss, dlogits}
std::pair<Tensor, Tensor> cross_entropy(Backend be, const Tensor& logits, const Tensor& labels,
                                        float smoothing, bool with_grad = true) {
  ScopedBackend guard(be);
  Tensor loss = poisoned(be, {1});
  Tensor dlogits = with_grad ? poisoned(be, logits.shape()) : Tensor();
  ops::softmax_cross_entropy(on(be, logits), on(be, labels), smoothing, loss, dlogits);
  return {to_host(loss), to_host(dlogits)};
}

struct LossCase {
  int64_t N, K;
  float smoothing, scale;  // logits uniform in [-scale, scale)
};

const LossCase kLossCases[] = {{6, 10, 0.f, 3.f},    {6, 10, 0.1f, 3.f}, {1, 5, 0.1f, 1.f},
                               {4, 1000, 0.1f, 5.f}, {3, 7, 0.f, 40.f},  {5, 2, 0.1f, 40.f}};

std::string describe(const LossCase& c) {
  return "logits [" + std::to_string(c.N) + "," + std::to_string(c.K) + "] in +-" +
         std::to_string(c.scale) + ", smoothing " + std::to_string(c.smoothing);
}

TEST(ConsistencyLoss, SoftmaxCrossEntropyMatchesReference) {
  uint64_t seed = 2200;
  for (const LossCase& c : kLossCases) {
    Rng rng(++seed);
    const Tensor logits = random_tensor(rng, {c.N, c.K}, Layout::nchw, -c.scale, c.scale);
    const Tensor labels = random_labels(rng, c.N, c.K);
    const auto [want_loss, want_d] = cross_entropy(Backend::reference, logits, labels, c.smoothing);
    for_each_backend("softmax_cross_entropy", [&](Backend be) {
      const auto [loss, d] = cross_entropy(be, logits, labels, c.smoothing);
      EXPECT_TRUE(all_close(with_backend("softmax_cross_entropy loss, " + describe(c), be), loss,
                            want_loss));
      EXPECT_TRUE(
          all_close(with_backend("softmax_cross_entropy dlogits, " + describe(c), be), d, want_d));
      // Without dlogits the loss is the same.
      const Tensor loss_only = cross_entropy(be, logits, labels, c.smoothing, false).first;
      EXPECT_TRUE(
          all_close(with_backend("softmax_cross_entropy loss without dlogits, " + describe(c), be),
                    loss_only, want_loss));
    });
  }
}

// Two rows of 3 classes by hand: loss = mean of logsumexp(z) - sum_k target_k z_k.
TEST(ConsistencyLoss, ReferenceIsSmoothedCrossEntropy) {
  const Tensor logits = Tensor::from({2, 3}, {1.f, 2.f, 3.f, 0.f, 0.f, 0.f});
  Tensor labels = Tensor::empty({2}, DType::s32);
  labels.data<int32_t>()[0] = 0;
  labels.data<int32_t>()[1] = 2;
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)), lse1 = std::log(3.0);
  const double s = 0.1, t_hit = 1 - s + s / 3, t_miss = s / 3;
  const double want = ((lse0 - (t_hit * 1 + t_miss * 2 + t_miss * 3)) + lse1) / 2;
  const auto [loss, d] = cross_entropy(Backend::reference, logits, labels, 0.1f);
  EXPECT_NEAR(loss.at(0), want, 1e-6);
  EXPECT_NEAR(d.at(0), (std::exp(1.0 - lse0) - t_hit) / 2, 1e-7);
  EXPECT_NEAR(d.at(5), (1.0 / 3 - t_hit) / 2, 1e-7);
  EXPECT_NEAR(d.at(4), (1.0 / 3 - t_miss) / 2, 1e-7);
}

TEST(ConsistencyLoss, RejectsLabelOutOfRange) {
  const Tensor logits = Tensor::zeros({4, 10});
  Tensor labels = Tensor::zeros({4}, DType::s32);
  labels.data<int32_t>()[2] = 10;
  for (Backend be : all_backends("softmax_cross_entropy")) {
    SCOPED_TRACE(std::string(backend_name(be)));
    ScopedBackend guard(be);
    Tensor loss = poisoned(be, {1}), d = poisoned(be, {4, 10});
    try {
      ops::softmax_cross_entropy(on(be, logits), on(be, labels), 0.f, loss, d);
      ADD_FAILURE() << "label 10 of 10 classes was accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(e.component(), "softmax_cross_entropy");
      if (be == Backend::reference) {
        EXPECT_NE(msg.find("label 10 at batch row 2 is outside [0, 10)"), std::string::npos) << msg;
      }
      for (const char* part : {"label 10", "row 2", "[0, 10)"})
        EXPECT_NE(msg.find(part), std::string::npos) << msg;
    }
  }
}

TEST(GradientLoss, ReferenceMatchesFiniteDifferences) {
  uint64_t seed = 2300;
  for (const LossCase& c :
       {LossCase{5, 7, 0.f, 2.f}, LossCase{5, 7, 0.1f, 2.f}, LossCase{1, 4, 0.1f, 1.f}}) {
    Rng rng(++seed);
    Tensor logits = random_tensor(rng, {c.N, c.K}, Layout::nchw, -c.scale, c.scale);
    const Tensor labels = random_labels(rng, c.N, c.K);
    const Tensor r = Tensor::from({1}, {1.f});
    // One float output of size ~1: eps 1e-2 keeps its rounding noise well under the tolerance
    // (the truncation error of the central difference is ~eps^2 / N).
    auto forward = [&] {
      return cross_entropy(Backend::reference, logits, labels, c.smoothing, false).first;
    };
    const Tensor d = cross_entropy(Backend::reference, logits, labels, c.smoothing).second;
    EXPECT_TRUE(check_gradient("softmax_cross_entropy dlogits, " + describe(c), logits, d, forward,
                               r, {.eps = 1e-2f, .tol = {1e-4, 1e-2}}));
  }
}

// ---------------------------------------------------------------------------------------------
// Relu and add

const Shape kEltShapes[] = {{2, 5, 7, 9}, {1, 3, 13, 5}, {7, 11}};

Tensor relu_forward(Backend be, const Tensor& x) {
  ScopedBackend guard(be);
  Tensor y = poisoned(be, x.shape(), x.layout());
  ops::relu_forward(on(be, x), y);
  return to_host(y);
}

Tensor relu_backward(Backend be, const Tensor& y, const Tensor& dy) {
  ScopedBackend guard(be);
  Tensor dx = poisoned(be, y.shape(), y.layout());
  ops::relu_backward(on(be, y), on(be, dy), dx);
  return to_host(dx);
}

TEST(ConsistencyRelu, ForwardAndBackwardMatchReference) {
  uint64_t seed = 2400;
  for (const Shape& s : kEltShapes)
    for (Layout l : kLayouts) {
      Rng rng(++seed);
      const Tensor x = random_tensor(rng, s, l), dy = random_tensor(rng, s, l);
      const Tensor want_y = relu_forward(Backend::reference, x);
      const Tensor want_dx = relu_backward(Backend::reference, want_y, dy);
      const std::string what = "x " + x.str();
      for_each_backend("relu_forward", [&](Backend be) {
        EXPECT_TRUE(all_close(with_backend("relu_forward y, " + what, be), relu_forward(be, x),
                              want_y, {0, 0}));
      });
      for_each_backend("relu_backward", [&](Backend be) {
        EXPECT_TRUE(all_close(with_backend("relu_backward dx, " + what, be),
                              relu_backward(be, want_y, dy), want_dx, {0, 0}));
      });
    }
}

TEST(GradientRelu, ReferenceMatchesFiniteDifferences) {
  Rng rng(2500);
  for (Layout l : kLayouts) {
    Tensor x = random_away_from_zero(rng, {2, 3, 5, 4}, l, 0.05f);
    const Tensor r = random_tensor(rng, x.shape(), l);
    auto forward = [&] { return relu_forward(Backend::reference, x); };
    const Tensor dx = relu_backward(Backend::reference, relu_forward(Backend::reference, x), r);
    EXPECT_TRUE(check_gradient("relu dx, x " + x.str(), x, dx, forward, r, {.max_points = 120}));
  }
}

TEST(ConsistencyAdd, MatchesReferenceAndAllowsAliasing) {
  uint64_t seed = 2600;
  for (const Shape& s : kEltShapes)
    for (Layout l : kLayouts) {
      Rng rng(++seed);
      const Tensor a = random_tensor(rng, s, l), b = random_tensor(rng, s, l);
      Tensor want = Tensor::empty(s, DType::f32, Device::cpu(), l);
      for (int64_t i = 0; i < want.numel(); ++i) want.data<float>()[i] = a.at(i) + b.at(i);
      for (Backend be : all_backends("add")) {
        ScopedBackend guard(be);
        Tensor y = poisoned(be, s, l);
        ops::add(on(be, a), on(be, b), y);
        EXPECT_TRUE(all_close(tagged("add y, a " + a.str(), be), to_host(y), want, {0, 0}));
        Tensor acc = on(be, a);  // y aliases a: the residual add in place
        ops::add(acc, on(be, b), acc);
        EXPECT_TRUE(
            all_close(tagged("add in place, a " + a.str(), be), to_host(acc), want, {0, 0}));
      }
    }
}

// ---------------------------------------------------------------------------------------------
// Dropout

struct DropoutOut {
  Tensor y, mask, dx;
};

DropoutOut dropout(Backend be, float p, uint64_t seed, const Tensor& x, const Tensor& dy) {
  ScopedBackend guard(be);
  DropoutOut o{poisoned(be, x.shape(), x.layout()), poisoned(be, x.shape(), x.layout(), DType::u8),
               poisoned(be, x.shape(), x.layout())};
  ops::dropout_forward(p, seed, on(be, x), o.y, o.mask);
  ops::dropout_backward(p, o.mask, on(be, dy), o.dx);
  return {to_host(o.y), to_host(o.mask), to_host(o.dx)};
}

TEST(ConsistencyDropout, MaskAndValuesMatchReference) {
  Rng rng(2700);
  for (float p : {0.f, 0.3f, 0.5f})
    for (Layout l : kLayouts) {
      const Shape s{4, 6, 9, 7};
      const Tensor x = random_tensor(rng, s, l), dy = random_tensor(rng, s, l);
      const uint64_t seed = 12345;
      const DropoutOut want = dropout(Backend::reference, p, seed, x, dy);
      const std::string what = "p " + std::to_string(p) + ", x " + x.str();
      // The reference's mask is the spec's: keep element i iff unit(hash(seed, i)) >= p.
      int64_t kept = 0, wrong = 0;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const bool keep = bits_to_unit(hash_words(seed, static_cast<uint64_t>(i))) >= p;
        kept += keep;
        wrong += (want.mask.data<uint8_t>()[i] != (keep ? 1 : 0));
        wrong += want.y.at(i) != (keep ? x.at(i) / (1.f - p) : 0.f);
      }
      EXPECT_EQ(wrong, 0) << what;
      EXPECT_NEAR(static_cast<double>(kept) / x.numel(), 1.0 - p, 0.03) << what;
      for_each_backend("dropout_forward", [&](Backend be) {
        const DropoutOut got = dropout(be, p, seed, x, dy);
        EXPECT_TRUE(
            all_equal(with_backend("dropout_forward mask, " + what, be), got.mask, want.mask));
        EXPECT_TRUE(all_close(with_backend("dropout_forward y, " + what, be), got.y, want.y));
        EXPECT_TRUE(all_close(with_backend("dropout_backward dx, " + what, be), got.dx, want.dx));
      });
    }
  // Another seed draws another mask.
  const Tensor x = random_tensor(rng, {2, 3, 4, 5});
  EXPECT_FALSE(all_equal("mask", dropout(Backend::reference, 0.5f, 1, x, x).mask,
                         dropout(Backend::reference, 0.5f, 2, x, x).mask));
}

// ---------------------------------------------------------------------------------------------
// Concat / split, reorder

TEST(ConsistencyConcat, ConcatAndSplitMatchReference) {
  Rng rng(2800);
  for (Layout l : kLayouts) {
    const std::vector<int64_t> channels{3, 5, 2};
    std::vector<Tensor> parts;
    for (int64_t c : channels) parts.push_back(random_tensor(rng, {2, c, 7, 9}, l));
    const Shape whole{2, 10, 7, 9};
    Tensor want = poisoned(Backend::reference, whole, l);
    {
      ScopedBackend guard(Backend::reference);
      ops::concat_channels(parts, want);
    }
    // Channel c of the whole is channel c - offset of its part.
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t h = 0; h < 7; h += 3)
        for (int64_t w = 0; w < 9; w += 4) {
          EXPECT_EQ(want.at(offset4(l, n, 3, h, w, 10, 7, 9)),
                    parts[1].at(offset4(l, n, 0, h, w, 5, 7, 9)));
          EXPECT_EQ(want.at(offset4(l, n, 9, h, w, 10, 7, 9)),
                    parts[2].at(offset4(l, n, 1, h, w, 2, 7, 9)));
        }
    const std::string what = "x " + want.str();
    for (Backend be : all_backends("concat_channels")) {
      ScopedBackend guard(be);
      std::vector<Tensor> parts_on;
      for (const Tensor& p : parts) parts_on.push_back(on(be, p));
      Tensor y = poisoned(be, whole, l);
      ops::concat_channels(parts_on, y);
      EXPECT_TRUE(all_equal(tagged("concat_channels y, " + what, be), to_host(y), want));
    }
    for (Backend be : all_backends("split_channels")) {
      ScopedBackend guard(be);
      std::vector<Tensor> back;
      for (int64_t c : channels) back.push_back(poisoned(be, {2, c, 7, 9}, l));
      ops::split_channels(on(be, want), back);
      for (size_t i = 0; i < parts.size(); ++i)
        EXPECT_TRUE(all_equal(tagged("split_channels part " + std::to_string(i) + ", " + what, be),
                              to_host(back[i]), parts[i]));
    }
  }
}

TEST(ConsistencyReorder, MatchesPlainLayoutCopy) {
  Rng rng(2900);
  for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{1, 16, 3, 1}, Shape{3, 1, 4, 4}})
    for (Layout from : kLayouts)
      for (Layout to : kLayouts) {
        const Tensor x = random_tensor(rng, s, from);
        const Tensor want = to_layout(x, to);
        for (Backend be : all_backends("reorder")) {
          ScopedBackend guard(be);
          Tensor y = poisoned(be, s, to);
          ops::reorder(on(be, x), y);
          y = to_host(y);
          const std::string what = "reorder " + x.str() + " -> " + std::string(layout_name(to));
          EXPECT_TRUE(all_equal(tagged(what, be), y, want));
          // Same logical values, and the memory really is in the target order.
          EXPECT_EQ(y.to_vector(), want.to_vector()) << tagged(what, be);
        }
      }
}

// ---------------------------------------------------------------------------------------------
// SGD

TEST(ConsistencySgd, UpdateMatchesReference) {
  const SgdParams cases[] = {
      {.lr = 0.1f, .momentum = 0.9f},
      {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-2f, .nesterov = true},
      {.lr = 0.2f, .momentum = 0.f, .weight_decay = 5e-4f},
      {.lr = 0.1f,
       .momentum = 0.5f,
       .weight_decay = 1e-3f,
       .nesterov = true,
       .grad_scale = 1.f / 128},
  };
  Rng rng(3000);
  for (const SgdParams& p : cases) {
    const std::string what = "sgd lr " + std::to_string(p.lr) + " momentum " +
                             std::to_string(p.momentum) + " wd " + std::to_string(p.weight_decay) +
                             (p.nesterov ? " nesterov" : "") + " grad_scale " +
                             std::to_string(p.grad_scale);
    const Tensor param0 = random_tensor(rng, {37, 5});
    std::vector<Tensor> grads;
    for (int step = 0; step < 3; ++step) grads.push_back(random_tensor(rng, {37, 5}));
    auto run = [&](Backend be) {
      ScopedBackend guard(be);
      Tensor param = on(be, param0), m = on(be, Tensor::zeros({37, 5}));
      for (const Tensor& g : grads) ops::sgd_update(p, param, on(be, g), m);
      return std::make_pair(to_host(param), to_host(m));
    };
    const auto [want_param, want_m] = run(Backend::reference);
    for_each_backend("sgd_update", [&](Backend be) {
      const auto [param, m] = run(be);
      EXPECT_TRUE(all_close(with_backend(what + ": param", be), param, want_param));
      EXPECT_TRUE(all_close(with_backend(what + ": momentum", be), m, want_m));
    });
  }
}

// The masked update over a whole buffer equals the plain update per slice, with the slice's
// decay (on and off in runs of uneven length, as weights, norms and biases alternate).
TEST(ConsistencySgd, MaskedUpdateEqualsPerSliceUpdates) {
  const SgdParams p{.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-3f, .nesterov = true,
                    .grad_scale = 0.25f};
  const int64_t cuts[] = {0, 17, 20, 91, 92, 150, 185};  // slices; odd ones decay
  Rng rng(3100);
  const Tensor param0 = random_tensor(rng, {185});
  std::vector<Tensor> grads;
  for (int step = 0; step < 3; ++step) grads.push_back(random_tensor(rng, {185}));
  Tensor mask = Tensor::empty({185}, DType::u8);
  for (size_t k = 0; k + 1 < std::size(cuts); ++k)
    for (int64_t i = cuts[k]; i < cuts[k + 1]; ++i) mask.data<uint8_t>()[i] = k % 2;
  Tensor want = param0.clone(), want_m = Tensor::zeros({185});
  {
    ScopedBackend ref(Backend::reference);
    for (const Tensor& g : grads)
      for (size_t k = 0; k + 1 < std::size(cuts); ++k) {
        SgdParams q = p;
        q.weight_decay = k % 2 ? p.weight_decay : 0.f;
        const int64_t n = cuts[k + 1] - cuts[k];
        Tensor w = want.view({n}, cuts[k]), m = want_m.view({n}, cuts[k]);
        ops::sgd_update(q, w, g.view({n}, cuts[k]), m);
      }
  }
  for (Backend be : all_backends("sgd_update_masked")) {
    SCOPED_TRACE(backend_name(be));
    ScopedBackend guard(be);
    Tensor param = on(be, param0), m = on(be, Tensor::zeros({185}));
    const Tensor dm = on(be, mask);
    for (const Tensor& g : grads) ops::sgd_update_masked(p, param, on(be, g), m, dm);
    // The reference is exact; other backends may contract multiply-adds differently.
    if (be == Backend::reference) {
      EXPECT_TRUE(all_equal(tagged("masked sgd param", be), param, want));
      EXPECT_TRUE(all_equal(tagged("masked sgd momentum", be), m, want_m));
    } else {
      EXPECT_TRUE(all_close(with_backend("masked sgd param", be), param, want));
      EXPECT_TRUE(all_close(with_backend("masked sgd momentum", be), m, want_m));
    }
  }
}

// One Nesterov step with weight decay by hand: g = 0.5 + 0.1 * 1 = 0.6, m = 0.6,
// param = 1 - 0.1 * (0.6 + 0.9 * 0.6) = 0.886.
TEST(ConsistencySgd, ReferenceStepIsPyTorchs) {
  Tensor param = Tensor::from({1}, {1.f}), m = Tensor::zeros({1});
  const Tensor grad = Tensor::from({1}, {1.f});
  ScopedBackend guard(Backend::reference);
  ops::sgd_update(
      {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.1f, .nesterov = true, .grad_scale = 0.5f},
      param, grad, m);
  EXPECT_FLOAT_EQ(m.at(0), 0.6f);
  EXPECT_FLOAT_EQ(param.at(0), 0.886f);
}

}  // namespace
}  // namespace scaledl::optest
