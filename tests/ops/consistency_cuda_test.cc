// The cuda backend in f16 and bf16 against the reference in f32. Inputs are rounded to the
// dtype first, so the comparison measures the kernel's own error (f32 accumulation, one
// rounding of the output), not the inputs'. Tolerances (|got - want| <= abs + rel * |want|):
//   f16  abs 5e-3, rel 5e-3   (11-bit significand: one rounding is 4.9e-4 relative)
//   bf16 abs 3e-2, rel 3e-2   (8-bit significand: one rounding is 3.9e-3 relative)
// The f32 cuda runs are in the shared consistency tests (for_each_backend). Every test here
// needs a GPU and skips, saying why, without one.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "core/device_memory.h"
#include "core/error.h"
#include "op_harness.h"

namespace scaledl::optest {
namespace {

#define SDL_NEED_GPU()                                                                    \
  do {                                                                                    \
    if (cuda_device_count() == 0 || !supports("conv2d_forward", Backend::cuda))           \
      GTEST_SKIP() << "needs a CUDA GPU and a CUDA build: " << cuda_unavailable_reason(); \
  } while (0)

const DType kHalfTypes[] = {DType::f16, DType::bf16};

Tolerance tol_for(DType t) {
  return t == DType::f16 ? Tolerance{5e-3, 5e-3} : Tolerance{3e-2, 3e-2};
}

// `x` on the GPU in dtype t.
Tensor gpu(const Tensor& x, DType t) {
  return as_dtype(x, t).to(Device::cuda(0));
}

// A GPU result of any float dtype as f32 on the host.
Tensor host_f32(const Tensor& y) {
  return as_dtype(y, DType::f32);
}

Tensor gpu_empty(const Shape& s, DType t, Layout l = Layout::nchw) {
  return Tensor::empty(s, t, Device::cuda(0), l);
}

std::string name(const std::string& what, DType t, Layout l) {
  return what + " [cuda " + std::string(dtype_name(t)) + " " + std::string(layout_name(l)) +
         " vs reference f32]";
}

TEST(CudaConsistency, GpuIsDescribedAndNoReasonIsGiven) {
  SDL_NEED_GPU();
  EXPECT_STREQ(cuda_unavailable_reason(), "");
  EXPECT_NE(cuda_device_description(0).find("sm_"), std::string::npos)
      << cuda_device_description(0);
  EXPECT_NE(cuda_library_versions().find("cuDNN 9."), std::string::npos) << cuda_library_versions();
}

// The validation before dispatch refuses a call whose tensors live on two devices, before the
// kernel would read host memory as device memory.
TEST(CudaConsistency, TensorsOnTwoDevicesAreRefused) {
  SDL_NEED_GPU();
  const Tensor x = Tensor::zeros({1, 2, 4, 4});
  Tensor y = gpu_empty({1, 2, 4, 4}, DType::f32);
  try {
    ops::relu_forward(x, y);
    ADD_FAILURE() << "a cpu input with a cuda output was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("one device"), std::string::npos) << e.message();
  }
}

TEST(CudaConsistency, ConvolutionInHalfTypes) {
  SDL_NEED_GPU();
  const Conv2dParams p{.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  for (DType t : kHalfTypes)
    for (Layout l : kLayouts) {
      Rng rng(11);
      const Tensor x = rounded(random_tensor(rng, {4, 16, 9, 11}, l), t);
      const Tensor w = rounded(random_tensor(rng, {32, 16, 3, 3}, Layout::nchw, -0.2f, 0.2f), t);
      const Tensor b = rounded(random_tensor(rng, {32}), t);
      Tensor want_y = Tensor::empty({4, 32, 5, 6}, DType::f32, Device::cpu(), l);
      Tensor dy = rounded(random_tensor(rng, want_y.shape(), l), t);
      Tensor want_dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
      Tensor want_dw = Tensor::empty(w.shape()), want_db = Tensor::empty({32});
      {
        ScopedBackend ref(Backend::reference);
        ops::conv2d_forward(p, x, w, b, want_y);
        ops::conv2d_backward_data(p, dy, w, want_dx);
        ops::conv2d_backward_weights(p, x, dy, want_dw, want_db);
      }
      Tensor y = gpu_empty(want_y.shape(), t, l), dx = gpu_empty(x.shape(), t, l);
      Tensor dw = gpu_empty(w.shape(), t), db = gpu_empty({32}, t);
      ops::conv2d_forward(p, gpu(x, t), gpu(w, t), gpu(b, t), y);
      ops::conv2d_backward_data(p, gpu(dy, t), gpu(w, t), dx);
      ops::conv2d_backward_weights(p, gpu(x, t), gpu(dy, t), dw, db);
      EXPECT_TRUE(all_close(name("conv2d_forward y", t, l), host_f32(y), want_y, tol_for(t)));
      EXPECT_TRUE(
          all_close(name("conv2d_backward_data dx", t, l), host_f32(dx), want_dx, tol_for(t)));
      // Weight gradients sum over N*OH*OW = 120 products: a larger absolute error.
      const Tolerance wt{tol_for(t).abs * 4, tol_for(t).rel};
      EXPECT_TRUE(all_close(name("conv2d_backward_weights dw", t, l), host_f32(dw), want_dw, wt));
      EXPECT_TRUE(all_close(name("conv2d_backward_weights db", t, l), host_f32(db), want_db, wt));
    }
}

TEST(CudaConsistency, LinearInHalfTypes) {
  SDL_NEED_GPU();
  for (DType t : kHalfTypes) {
    Rng rng(12);
    const Tensor x = rounded(random_tensor(rng, {8, 40}), t);
    const Tensor w = rounded(random_tensor(rng, {24, 40}, Layout::nchw, -0.3f, 0.3f), t);
    const Tensor b = rounded(random_tensor(rng, {24}), t);
    const Tensor dy = rounded(random_tensor(rng, {8, 24}), t);
    Tensor want_y = Tensor::empty({8, 24}), want_dx = Tensor::empty({8, 40});
    Tensor want_dw = Tensor::empty({24, 40}), want_db = Tensor::empty({24});
    {
      ScopedBackend ref(Backend::reference);
      ops::linear_forward(x, w, b, want_y);
      ops::linear_backward_data(dy, w, want_dx);
      ops::linear_backward_weights(x, dy, want_dw, want_db);
    }
    Tensor y = gpu_empty({8, 24}, t), dx = gpu_empty({8, 40}, t);
    Tensor dw = gpu_empty({24, 40}, t), db = gpu_empty({24}, t);
    ops::linear_forward(gpu(x, t), gpu(w, t), gpu(b, t), y);
    ops::linear_backward_data(gpu(dy, t), gpu(w, t), dx);
    ops::linear_backward_weights(gpu(x, t), gpu(dy, t), dw, db);
    const Layout l = Layout::nchw;
    EXPECT_TRUE(all_close(name("linear_forward y", t, l), host_f32(y), want_y, tol_for(t)));
    EXPECT_TRUE(
        all_close(name("linear_backward_data dx", t, l), host_f32(dx), want_dx, tol_for(t)));
    EXPECT_TRUE(
        all_close(name("linear_backward_weights dw", t, l), host_f32(dw), want_dw, tol_for(t)));
    EXPECT_TRUE(
        all_close(name("linear_backward_weights db", t, l), host_f32(db), want_db, tol_for(t)));
  }
}

TEST(CudaConsistency, BatchNormWithF32StatisticsInHalfTypes) {
  SDL_NEED_GPU();
  const BatchNormParams p;
  for (DType t : kHalfTypes)
    for (Layout l : kLayouts) {
      Rng rng(13);
      const Tensor x = rounded(random_tensor(rng, {6, 8, 5, 7}, l, -2.f, 3.f), t);
      const Tensor dy = rounded(random_tensor(rng, x.shape(), l), t);
      const Tensor gamma = random_tensor(rng, {8}, Layout::nchw, 0.5f, 1.5f);
      const Tensor beta = random_tensor(rng, {8});
      Tensor want_y = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
      Tensor want_dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
      Tensor want_mean = Tensor::empty({8}), want_var = Tensor::empty({8});
      Tensor rm = Tensor::zeros({8}), rv = Tensor::zeros({8});
      rv.fill(1.f);
      Tensor want_dg = Tensor::empty({8}), want_dbeta = Tensor::empty({8});
      const Tensor rm0 = rm.clone(), rv0 = rv.clone();
      {
        ScopedBackend ref(Backend::reference);
        ops::batchnorm_forward_train(p, x, gamma, beta, want_y, want_mean, want_var, rm, rv);
        ops::batchnorm_backward(p, x, dy, gamma, want_mean, want_var, want_dx, want_dg, want_dbeta);
      }
      const Device d = Device::cuda(0);
      Tensor y = gpu_empty(x.shape(), t, l), dx = gpu_empty(x.shape(), t, l);
      Tensor mean = gpu_empty({8}, DType::f32), var = gpu_empty({8}, DType::f32);
      Tensor grm = rm0.to(d), grv = rv0.to(d);
      Tensor dg = gpu_empty({8}, DType::f32), dbeta = gpu_empty({8}, DType::f32);
      const Tensor gg = gamma.to(d), gb = beta.to(d), gx = gpu(x, t);
      ops::batchnorm_forward_train(p, gx, gg, gb, y, mean, var, grm, grv);
      ops::batchnorm_backward(p, gx, gpu(dy, t), gg, mean, var, dx, dg, dbeta);
      const Tolerance tol = tol_for(t);
      EXPECT_TRUE(all_close(name("batchnorm y", t, l), host_f32(y), want_y, tol));
      EXPECT_TRUE(all_close(name("batchnorm save_mean", t, l), mean, want_mean, tol));
      EXPECT_TRUE(all_close(name("batchnorm save_var", t, l), var, want_var, tol));
      EXPECT_TRUE(all_close(name("batchnorm running_mean", t, l), grm, rm, tol));
      EXPECT_TRUE(all_close(name("batchnorm running_var", t, l), grv, rv, tol));
      EXPECT_TRUE(all_close(name("batchnorm dx", t, l), host_f32(dx), want_dx, tol));
      EXPECT_TRUE(all_close(name("batchnorm dgamma", t, l), dg, want_dg, {tol.abs * 4, tol.rel}));
      EXPECT_TRUE(
          all_close(name("batchnorm dbeta", t, l), dbeta, want_dbeta, {tol.abs * 4, tol.rel}));
    }
}

TEST(CudaConsistency, PoolingReluAddAndLossInHalfTypes) {
  SDL_NEED_GPU();
  const Pool2dParams mp{3, 3, 2, 2, 1, 1, true, true};
  for (DType t : kHalfTypes)
    for (Layout l : kLayouts) {
      Rng rng(14);
      const Tensor x = rounded(random_distinct(rng, {2, 3, 9, 8}, l, 0.02f), t);
      const Tensor b = rounded(random_tensor(rng, x.shape(), l), t);
      Tensor want_mp = Tensor::empty({2, 3, 5, 4}, DType::f32, Device::cpu(), l), ws;
      Tensor want_relu = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
      Tensor want_add = Tensor::empty(x.shape(), DType::f32, Device::cpu(), l);
      const Tensor logits = rounded(random_tensor(rng, {5, 10}, Layout::nchw, -3.f, 3.f), t);
      const Tensor labels = random_labels(rng, 5, 10);
      Tensor want_loss = Tensor::empty({1}), want_dl = Tensor::empty({5, 10});
      {
        ScopedBackend ref(Backend::reference);
        ops::maxpool2d_forward(mp, x, want_mp, ws);
        ops::relu_forward(x, want_relu);
        ops::add(x, b, want_add);
        ops::softmax_cross_entropy(logits, labels, 0.1f, want_loss, want_dl);
      }
      const Device d = Device::cuda(0);
      Tensor y = gpu_empty(want_mp.shape(), t, l), gws, r = gpu_empty(x.shape(), t, l);
      Tensor s = gpu_empty(x.shape(), t, l), loss = gpu_empty({1}, DType::f32);
      Tensor dl = gpu_empty({5, 10}, t);
      const Tensor gx = gpu(x, t);
      ops::maxpool2d_forward(mp, gx, y, gws);
      ops::relu_forward(gx, r);
      ops::add(gx, gpu(b, t), s);
      ops::softmax_cross_entropy(gpu(logits, t), labels.to(d), 0.1f, loss, dl);
      // Max pooling and relu pick elements: exact.
      EXPECT_TRUE(all_close(name("maxpool2d y", t, l), host_f32(y), want_mp, {0, 0}));
      EXPECT_TRUE(all_close(name("relu y", t, l), host_f32(r), want_relu, {0, 0}));
      EXPECT_TRUE(all_close(name("add y", t, l), host_f32(s), want_add, tol_for(t)));
      EXPECT_TRUE(all_close(name("softmax_cross_entropy loss", t, l), loss, want_loss, tol_for(t)));
      EXPECT_TRUE(all_close(name("softmax_cross_entropy dlogits", t, l), host_f32(dl), want_dl,
                            tol_for(t)));
    }
}

TEST(CudaConsistency, CastRoundsLikeTheReferenceAndAllFiniteSeesInf) {
  SDL_NEED_GPU();
  Rng rng(15);
  const Tensor x = random_tensor(rng, {1000}, Layout::nchw, -70000.f, 70000.f);
  for (DType t : kHalfTypes) {
    Tensor want = Tensor::empty({1000}, t);
    {
      ScopedBackend ref(Backend::reference);
      ops::cast(x, want, 0.5f);
    }
    Tensor got = gpu_empty({1000}, t);
    ops::cast(x.to(Device::cuda(0)), got, 0.5f);
    EXPECT_TRUE(all_equal(name("cast x 0.5", t, Layout::nchw), got, want));
  }
  Tensor ok = Tensor::zeros({4096}, DType::f16, Device::cuda(0));
  EXPECT_TRUE(ops::all_finite(ok));
  Tensor big = Tensor::from({3}, {1.f, 70000.f, 2.f});  // 70000 overflows f16 to inf
  Tensor h = gpu_empty({3}, DType::f16);
  ops::cast(big.to(Device::cuda(0)), h, 1.f);
  EXPECT_FALSE(ops::all_finite(h));
}

TEST(CudaConsistency, AnOutOfRangeLabelMakesTheLossNan) {
  SDL_NEED_GPU();
  const Device d = Device::cuda(0);
  Rng rng(16);
  const Tensor logits = random_tensor(rng, {3, 10}).to(d);
  Tensor labels = Tensor::empty({3}, DType::s32);
  for (int i = 0; i < 3; ++i) labels.data<int32_t>()[i] = i == 1 ? 10 : i;  // 10: one past K
  Tensor loss = gpu_empty({1}, DType::f32), dl;
  ops::softmax_cross_entropy(logits, labels.to(d), 0.f, loss, dl);
  EXPECT_TRUE(std::isnan(loss.at(0)));
}

}  // namespace
}  // namespace scaledl::optest
