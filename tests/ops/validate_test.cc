// Arguments are validated once, before dispatch (ops/validate.cc): a bad call of any op is
// refused the same way on every host backend, naming the op and the tensor at fault, before
// anything is written. The backends themselves no longer check shapes.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/ops.h"

namespace scaledl {
namespace {

struct BadCall {
  const char* what;
  std::string op, names;                  // the op and a word the message must hold
  std::function<void(Tensor& out)> call;  // writes (if it ran) into `out`
};

Tensor filled(const Shape& s, float v, Layout l = Layout::nchw, DType dt = DType::f32) {
  Tensor t = Tensor::empty(s, DType::f32, Device::cpu(), l);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
  if (dt == DType::f32) return t;
  Tensor h = Tensor::empty(s, dt, Device::cpu(), l);
  ops::cast(t, h, 1.f);
  return h;
}

// x [2,4,6,6] * w [8,4,3,3] (stride 1, pad 1) -> y [2,8,6,6]; x [3,5] * w [7,5] -> y [3,7].
std::vector<BadCall> bad_calls() {
  const Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  const Tensor x = filled({2, 4, 6, 6}, 1), w = filled({8, 4, 3, 3}, 1);
  const Tensor y_shape = filled({2, 8, 6, 6}, 0);
  const Tensor lx = filled({3, 5}, 1), lw = filled({7, 5}, 1);
  std::vector<BadCall> v;
  auto conv = [&](const char* what, const char* names, Conv2dParams q, Tensor xx, Tensor ww,
                  Tensor b, Shape ys, Layout yl = Layout::nchw) {
    v.push_back({what, "conv2d_forward", names, [=](Tensor& out) {
                   out = filled(ys, 7, yl);
                   ops::conv2d_forward(q, xx, ww, b, out);
                 }});
  };
  conv("weights with the wrong input channels", "weights", p, x, filled({8, 3, 3, 3}, 1), Tensor(),
       {2, 8, 6, 6});
  conv("an output of the wrong shape", "y", p, x, w, Tensor(), {2, 8, 5, 5});
  conv("an output in another layout", "y", p, x, w, Tensor(), {2, 8, 6, 6}, Layout::nhwc);
  conv("weights of another dtype", "weights", p, x,
       filled({8, 4, 3, 3}, 1, Layout::nchw, DType::bf16), Tensor(), {2, 8, 6, 6});
  conv("stride 0", "stride", Conv2dParams{0, 0, 1, 1, 1, 1, 1}, x, w, Tensor(), {2, 8, 6, 6});
  conv("a kernel larger than the padded input", "does not fit", Conv2dParams{1, 1, 0, 0, 1, 1, 1},
       x, filled({8, 4, 7, 7}, 1), Tensor(), {2, 8, 1, 1});
  conv("groups that do not divide the channels", "groups", Conv2dParams{1, 1, 1, 1, 1, 1, 3}, x,
       filled({8, 1, 3, 3}, 1), Tensor(), {2, 8, 6, 6});
  conv("a bias of the wrong length", "bias", p, x, w, filled({9}, 0), {2, 8, 6, 6});
  conv("a 3-D input", "x", p, filled({4, 6, 6}, 1), w, Tensor(), {2, 8, 6, 6});
  v.push_back(
      {"a backward-data output of the wrong shape", "conv2d_backward_data", "dy", [=](Tensor& out) {
         out = filled({2, 4, 5, 5}, 7);
         ops::conv2d_backward_data(p, y_shape, w, out);
       }});
  v.push_back(
      {"a bias gradient of the wrong length", "conv2d_backward_weights", "db", [=](Tensor& out) {
         out = filled({8, 4, 3, 3}, 7);
         Tensor db = filled({4}, 7);
         ops::conv2d_backward_weights(p, x, y_shape, out, db);
       }});
  v.push_back({"linear weights with the wrong K", "linear_forward", "weights", [=](Tensor& out) {
                 out = filled({3, 7}, 7);
                 ops::linear_forward(lx, filled({7, 4}, 1), Tensor(), out);
               }});
  v.push_back({"a linear output of the wrong shape", "linear_forward", "y", [=](Tensor& out) {
                 out = filled({3, 6}, 7);
                 ops::linear_forward(lx, lw, Tensor(), out);
               }});
  v.push_back({"a linear input gradient of the wrong shape", "linear_backward_data", "dx",
               [=](Tensor& out) {
                 out = filled({3, 4}, 7);
                 ops::linear_backward_data(filled({3, 7}, 1), lw, out);
               }});
  v.push_back({"a linear output gradient of another batch", "linear_backward_weights", "dy",
               [=](Tensor& out) {
                 out = filled({7, 5}, 7);
                 Tensor db;
                 ops::linear_backward_weights(lx, filled({4, 7}, 1), out, db);
               }});
  v.push_back({"a linear bias gradient of the wrong length", "linear_backward_weights", "db",
               [=](Tensor& out) {
                 out = filled({7, 5}, 7);
                 Tensor db = filled({5}, 7);
                 ops::linear_backward_weights(lx, filled({3, 7}, 1), out, db);
               }});
  // Batch norm over x [2,4,3,3]: statistics and affine parameters f32 [4].
  const Tensor bx = filled({2, 4, 3, 3}, 1), c4 = filled({4}, 1);
  auto bn_train = [&](const char* what, const char* names, Tensor xx, Tensor gamma, Tensor rm,
                      Layout yl) {
    v.push_back({what, "batchnorm_forward_train", names, [=](Tensor& out) {
                   out = filled(xx.shape(), 7, yl);
                   Tensor sm = filled({4}, 0), sv = filled({4}, 0), r = rm, rv = filled({4}, 1);
                   ops::batchnorm_forward_train({}, xx, gamma, c4, out, sm, sv, r, rv);
                 }});
  };
  bn_train("batch norm running statistics of the wrong length", "running_mean", bx, c4,
           filled({3}, 0), Layout::nchw);
  bn_train("a batch norm output in another layout", "y", bx, c4, c4, Layout::nhwc);
  bn_train("a bf16 gamma", "gamma", bx, filled({4}, 1, Layout::nchw, DType::bf16), c4,
           Layout::nchw);
  bn_train("one value per channel", "N*H*W > 1", filled({1, 4, 1, 1}, 1), c4, c4, Layout::nchw);
  v.push_back(
      {"a batch norm backward without dgamma", "batchnorm_backward", "dgamma", [=](Tensor& out) {
         out = filled(bx.shape(), 7);
         Tensor dgamma, dbeta = filled({4}, 0);
         ops::batchnorm_backward({}, bx, bx, c4, c4, c4, out, dgamma, dbeta);
       }});
  // Pooling over x [2,4,6,6] with a 2x2 window, stride 2 -> [2,4,3,3].
  Pool2dParams pp;
  auto maxpool = [&](const char* what, const char* names, Pool2dParams q, Shape ys) {
    v.push_back({what, "maxpool2d_forward", names, [=](Tensor& out) {
                   out = filled(ys, 7);
                   Tensor ws;
                   ops::maxpool2d_forward(q, x, out, ws);
                 }});
  };
  maxpool("a pooled output of the wrong shape", "y", pp, {2, 4, 2, 2});
  maxpool("padding over half the kernel", "half the kernel", Pool2dParams{2, 2, 2, 2, 2, 2},
          {2, 4, 5, 5});
  maxpool("a zero kernel", "kernel", Pool2dParams{0, 0, 1, 1, 0, 0}, {2, 4, 6, 6});
  v.push_back({"a max pooling backward whose x is not dx's shape", "maxpool2d_backward", "x",
               [=](Tensor& out) {
                 out = filled({2, 4, 6, 6}, 7);
                 ops::maxpool2d_backward(pp, filled({2, 4, 4, 4}, 1), filled({2, 4, 3, 3}, 1),
                                         Tensor(), filled({2, 4, 3, 3}, 1), out);
               }});
  v.push_back({"a global pooling output of the wrong shape", "global_avgpool_forward", "y",
               [=](Tensor& out) {
                 out = filled({2, 5}, 7);
                 ops::global_avgpool_forward(x, out);
               }});
  v.push_back({"a global pooling gradient in another dtype", "global_avgpool_backward", "dy",
               [=](Tensor& out) {
                 out = filled({2, 4, 6, 6}, 7);
                 ops::global_avgpool_backward(filled({2, 4}, 1, Layout::nchw, DType::bf16), out);
               }});
  // Elementwise, data movement, loss and optimizer.
  v.push_back({"an addend in another layout", "add", "b", [=](Tensor& out) {
                 out = filled({2, 4, 6, 6}, 7);
                 ops::add(x, filled({2, 4, 6, 6}, 1, Layout::nhwc), out);
               }});
  v.push_back({"a relu gradient of another shape", "relu_backward", "dx", [=](Tensor& out) {
                 out = filled({2, 4, 6, 5}, 7);
                 ops::relu_backward(x, x, out);
               }});
  v.push_back({"dropout with p = 1", "dropout_forward", "[0, 1)", [=](Tensor& out) {
                 out = filled({2, 4, 6, 6}, 7);
                 Tensor mask;
                 ops::dropout_forward(1.f, 0, x, out, mask);
               }});
  v.push_back({"a dropout mask of another size", "dropout_backward", "mask", [=](Tensor& out) {
                 out = filled({2, 4, 6, 6}, 7);
                 Tensor mask = Tensor::zeros({5}, DType::u8);
                 ops::dropout_backward(0.5f, mask, x, out);
               }});
  v.push_back(
      {"parts whose channels do not add up", "concat_channels", "add up to", [=](Tensor& out) {
         out = filled({2, 8, 6, 6}, 7);
         ops::concat_channels({x, filled({2, 3, 6, 6}, 1)}, out);
       }});
  v.push_back({"a part of another height", "split_channels", "part 1", [=](Tensor& out) {
                 out = filled({2, 4, 6, 6}, 7);
                 std::vector<Tensor> parts{out, filled({2, 4, 5, 6}, 7)};
                 ops::split_channels(filled({2, 8, 6, 6}, 1), parts);
               }});
  v.push_back({"a reorder into another shape", "reorder", "y", [=](Tensor& out) {
                 out = filled({2, 4, 6, 5}, 7, Layout::nhwc);
                 ops::reorder(x, out);
               }});
  v.push_back({"a cast into another layout", "cast", "layout", [=](Tensor& out) {
                 out = filled({2, 4, 6, 6}, 7, Layout::nhwc);
                 ops::cast(x, out, 1.f);
               }});
  v.push_back({"f32 labels", "softmax_cross_entropy", "labels", [=](Tensor& out) {
                 out = filled({1}, 7);
                 Tensor dlogits;
                 ops::softmax_cross_entropy(lx, filled({3}, 0), 0.f, out, dlogits);
               }});
  v.push_back({"a gradient of another size", "sgd_update", "gradient", [=](Tensor& out) {
                 out = filled({10}, 7);
                 Tensor m = filled({10}, 7);
                 ops::sgd_update(SgdParams{}, out, filled({9}, 1), m);
               }});
  v.push_back({"no momentum buffer with momentum 0.9", "sgd_update", "momentum", [=](Tensor& out) {
                 out = filled({10}, 7);
                 Tensor m;
                 ops::sgd_update(SgdParams{}, out, filled({10}, 1), m);
               }});
  return v;
}

TEST(OpValidation, BadCallsAreRefusedBeforeAnyBackendRunsNamingTheTensor) {
  for (Backend be : {Backend::reference, Backend::cpu}) {
    ScopedBackend scoped(be);
    for (const BadCall& c : bad_calls()) {
      SCOPED_TRACE(std::string(backend_name(be)) + ": " + c.what);
      Tensor out;
      try {
        c.call(out);
        ADD_FAILURE() << "accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.component(), c.op);
        EXPECT_NE(e.message().find(c.names), std::string::npos) << e.message();
      }
      // Nothing was written: the output still holds what it was filled with.
      ASSERT_TRUE(out.defined());
      for (float e : out.to_vector()) ASSERT_EQ(e, 7.f);
    }
  }
}

TEST(OpValidation, TheSameCallsAreAcceptedWhenWellFormed) {
  const Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  for (Backend be : {Backend::reference, Backend::cpu}) {
    ScopedBackend scoped(be);
    Tensor y = filled({2, 8, 6, 6}, 7), b = filled({8}, 0.5f);
    ops::conv2d_forward(p, filled({2, 4, 6, 6}, 1), filled({8, 4, 3, 3}, 1), b, y);
    EXPECT_FLOAT_EQ(y.to_vector()[0], 4 * 4 + 0.5f);  // a corner sees 2x2 taps of 4 channels
    Tensor ly = filled({3, 7}, 7);
    ops::linear_forward(filled({3, 5}, 1), filled({7, 5}, 2), Tensor(), ly);
    EXPECT_FLOAT_EQ(ly.to_vector()[0], 10.f);
  }
}

}  // namespace
}  // namespace scaledl
