// The op consistency harness (as ggml's test-backend-ops): seeded random tensors, comparison of
// a backend's results with the reference kernels, and a finite-difference checker for the
// reference's gradients. Used by tests/ops/consistency_*_test.cc.
//
// Tolerances, elementwise on logical elements: |got - want| <= abs + rel * |want|.
//   backend vs reference, f32 ......... abs 1e-4, rel 1e-4 (kBackendTol); integer data, masks,
//                                       relu, add, concat/split and reorder exact.
//   finite differences ................ central differences in float with eps 1e-3 on one
//                                       element at a time, L = sum(y * r) summed in double,
//                                       abs 2e-3, rel 1e-2 against the analytic gradient (kFdTol);
//                                       the scalar loss uses eps 1e-2, abs 1e-4, rel 1e-2.
// Both pass with 10x tighter values on the reference and oneDNN; a wrong sign, index, divisor
// or missing term in any kernel fails them.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/tensor.h"
#include "ops/ops.h"

namespace scaledl::optest {

struct Tolerance {
  double abs;
  double rel;
};
inline constexpr Tolerance kBackendTol{1e-4, 1e-4};
inline constexpr Tolerance kFdTol{2e-3, 1e-2};
inline constexpr Layout kLayouts[] = {Layout::nchw, Layout::nhwc};

// Uniform in [lo, hi).
Tensor random_tensor(Rng& rng, const Shape& shape, Layout layout = Layout::nchw, float lo = -1.f,
                     float hi = 1.f);
// Uniform magnitude in [min_abs, 1) with a random sign (kinks such as relu's stay out of reach).
Tensor random_away_from_zero(Rng& rng, const Shape& shape, Layout layout, float min_abs);
// A shuffled ramp: all values distinct, at least `step` apart (max pooling's argmax cannot flip).
Tensor random_distinct(Rng& rng, const Shape& shape, Layout layout, float step = 0.01f);
// s32 labels in [0, classes).
Tensor random_labels(Rng& rng, int64_t n, int64_t classes);

// t as a host tensor of dtype d (cast, rounded to nearest even); t itself when it already is
// one; undefined stays undefined.
Tensor as_dtype(const Tensor& t, DType d);
// x's values rounded to dtype t and back, f32 on the host: what a kernel reading x in t sees.
Tensor rounded(const Tensor& x, DType t);

// Tolerance `rel` relative to each element and, absolutely, to the largest |want| (at least 1):
// sums of many products lose absolute, not relative, precision in their small elements.
Tolerance relative_to_max(const Tensor& want, double rel);

// Batch norm's inputs for x of shape s: x in [-1.5, 2.5), gamma in [0.5, 1.5), beta and the
// running mean in [-0.5, 0.5), the running variance in [0.5, 2), and an output gradient dy.
struct BnTensors {
  Tensor x, gamma, beta, running_mean, running_var, dy;
};
BnTensors make_bn(const Shape& s, Layout l, uint64_t seed);

// Backends other than the reference that implement `op` in this build (cpu; cuda when built
// and a GPU is present: CudaConsistency.GpuIsDescribedAndNoReasonIsGiven reports the skip
// otherwise).
std::vector<Backend> backends_under_test(std::string_view op);
// The reference followed by backends_under_test(op).
std::vector<Backend> all_backends(std::string_view op);
// Runs `body(b)` for each backend under test for `op`, tracing the backend's name.
void for_each_backend(std::string_view op, const std::function<void(Backend)>& body);

// The device backend `b` runs on, a copy of host tensor `t` there (undefined stays undefined),
// and a host copy of `t`.
Device device_of(Backend b);
Tensor on(Backend b, const Tensor& t);
Tensor to_host(const Tensor& t);
// An output tensor on `b`'s device filled with NaN (f32) or 0xAB bytes, so an element a kernel
// forgets to write shows up in the comparison.
Tensor poisoned(Backend b, const Shape& shape, Layout layout = Layout::nchw,
                DType dtype = DType::f32);

// Compares logical elements (layouts may differ, device tensors are copied to the host, f16 and
// bf16 read as f32); on failure names `what`, the shape and layout,
// the worst element's logical index ([n, c, h, w] for 4-D whatever the layout) and values, and
// how many elements are out of tolerance.
::testing::AssertionResult all_close(const std::string& what, const Tensor& got, const Tensor& want,
                                     Tolerance tol = kBackendTol);
// Exact comparison for any dtype.
::testing::AssertionResult all_equal(const std::string& what, const Tensor& got,
                                     const Tensor& want);

// "what [cpu vs reference]" for a comparison with the reference, "what [cpu]" otherwise.
std::string with_backend(const std::string& what, Backend b);
std::string tagged(const std::string& what, Backend b);

// L = sum(y * r) in double, y and r of the same shape and layout.
double weighted_sum(const Tensor& y, const Tensor& r);

struct FdOptions {
  float eps = 1e-3f;
  Tolerance tol = kFdTol;
  int max_points = 48;  // elements probed (all of them when the input is smaller)
  uint64_t seed = 1;    // picks the probed elements
};

// Checks `analytic` (same shape and layout as `input`) = dL/d(input) with L = sum(forward() * r),
// by central differences on elements of `input` (modified in place and restored; `forward` must
// read it).
::testing::AssertionResult check_gradient(const std::string& what, Tensor input,
                                          const Tensor& analytic,
                                          const std::function<Tensor()>& forward, const Tensor& r,
                                          const FdOptions& opt = {});

}  // namespace scaledl::optest
