// The op consistency harness: random tensors, backend-vs-reference comparison, finite differences.
#include "op_harness.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>

#include "core/device_memory.h"
#include "core/error.h"
#include "core/half.h"

namespace scaledl::optest {

namespace {

Tensor filled(const Shape& shape, Layout layout, const std::function<float()>& next) {
  Tensor t = Tensor::empty(shape, DType::f32, Device::cpu(), layout);
  float* p = t.data<float>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = next();
  return t;
}

// Memory index of logical (row-major [N,C,H,W] for 4-D) element `i`.
int64_t memory_index(const Tensor& t, int64_t i) {
  if (t.ndim() != 4) return i;
  const int64_t C = t.dim(1), H = t.dim(2), W = t.dim(3);
  const int64_t w = i % W, h = i / W % H, c = i / (W * H) % C, n = i / (W * H * C);
  return offset4(t.layout(), n, c, h, w, C, H, W);
}

// Logical index of memory element `m`, as "[i, j, ..]" ([n, c, h, w] for 4-D).
std::string coords_of_memory(const Tensor& t, int64_t m) {
  std::vector<int64_t> idx(t.shape().size());
  if (t.ndim() == 4 && t.layout() == Layout::nhwc) {
    const int64_t C = t.dim(1), H = t.dim(2), W = t.dim(3);
    idx = {m / (C * W * H), m % C, m / (C * W) % H, m / C % W};
  } else {
    int64_t rest = m;
    for (int d = t.ndim() - 1; d >= 0; --d) idx[d] = rest % t.dim(d), rest /= t.dim(d);
  }
  std::ostringstream os;
  os << "[";
  for (size_t d = 0; d < idx.size(); ++d) os << (d ? ", " : "") << idx[d];
  os << "]";
  return os.str();
}

double value_at(const Tensor& t, int64_t mem) {
  switch (t.dtype()) {
    case DType::f32:
      return t.data<float>()[mem];
    case DType::u8:
      return t.data<uint8_t>()[mem];
    case DType::s8:
      return t.data<int8_t>()[mem];
    case DType::s32:
      return t.data<int32_t>()[mem];
    case DType::f16:
      return half::f16_to_f32(t.data<uint16_t>()[mem]);
    case DType::bf16:
      return half::bf16_to_f32(t.data<uint16_t>()[mem]);
    default:
      break;
  }
  throw Error("op harness", "cannot read elements of " + t.str());
}

::testing::AssertionResult same_shape(const std::string& what, const Tensor& got,
                                      const Tensor& want) {
  if (!got.defined() || !want.defined())
    return ::testing::AssertionFailure() << what << ": a tensor is undefined";
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure()
           << what << ": got " << got.str() << ", expected " << want.str();
  return ::testing::AssertionSuccess();
}

std::string tol_str(Tolerance tol) {
  std::ostringstream os;
  os << "|got - want| <= " << tol.abs << " + " << tol.rel << " * |want|";
  return os.str();
}

}  // namespace

Tensor random_tensor(Rng& rng, const Shape& shape, Layout layout, float lo, float hi) {
  return filled(shape, layout, [&] { return rng.uniform(lo, hi); });
}

Tensor random_away_from_zero(Rng& rng, const Shape& shape, Layout layout, float min_abs) {
  return filled(shape, layout, [&] {
    const float mag = rng.uniform(min_abs, 1.f);
    return rng.uniform() < 0.5f ? -mag : mag;
  });
}

Tensor random_distinct(Rng& rng, const Shape& shape, Layout layout, float step) {
  const int64_t n = shape_numel(shape);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
  Tensor t = Tensor::empty(shape, DType::f32, Device::cpu(), layout);
  for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(order[i] - n / 2) * step;
  return t;
}

Tensor random_labels(Rng& rng, int64_t n, int64_t classes) {
  Tensor t = Tensor::empty({n}, DType::s32);
  for (int64_t i = 0; i < n; ++i)
    t.data<int32_t>()[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(classes)));
  return t;
}

Tensor as_dtype(const Tensor& t, DType d) {
  if (!t.defined()) return t;
  const Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
  if (h.dtype() == d) return h;
  Tensor out = Tensor::empty(h.shape(), d, Device::cpu(), h.layout());
  ops::cast(h, out, 1.f);
  return out;
}

Tensor rounded(const Tensor& x, DType t) {
  return as_dtype(as_dtype(x, t), DType::f32);
}

Tolerance relative_to_max(const Tensor& want, double rel) {
  const Tensor h = as_dtype(want, DType::f32);
  double m = 1.0;
  for (int64_t i = 0; i < h.numel(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(h.data<float>()[i])));
  return {rel * m, rel};
}

BnTensors make_bn(const Shape& s, Layout l, uint64_t seed) {
  Rng rng(seed);
  const int64_t C = s[1];
  return {random_tensor(rng, s, l, -1.5f, 2.5f),
          random_tensor(rng, {C}, Layout::nchw, 0.5f, 1.5f),
          random_tensor(rng, {C}, Layout::nchw, -0.5f, 0.5f),
          random_tensor(rng, {C}, Layout::nchw, -0.5f, 0.5f),
          random_tensor(rng, {C}, Layout::nchw, 0.5f, 2.f),
          random_tensor(rng, s, l)};
}

std::vector<Backend> backends_under_test(std::string_view op) {
  std::vector<Backend> out;
  for (Backend b : {Backend::cpu, Backend::cuda})
    if (supports(op, b) && (b != Backend::cuda || cuda_device_count() > 0)) out.push_back(b);
  return out;
}

std::vector<Backend> all_backends(std::string_view op) {
  std::vector<Backend> out{Backend::reference};
  for (Backend b : backends_under_test(op)) out.push_back(b);
  return out;
}

void for_each_backend(std::string_view op, const std::function<void(Backend)>& body) {
  for (Backend b : backends_under_test(op)) {
    SCOPED_TRACE("backend " + std::string(backend_name(b)) + ", op " + std::string(op));
    body(b);
  }
}

Device device_of(Backend b) {
  return b == Backend::cuda ? Device::cuda(0) : Device::cpu();
}

Tensor on(Backend b, const Tensor& t) {
  if (!t.defined()) return t;
  if (device_of(b) == t.device()) return t.clone();
  return t.to(device_of(b));
}

Tensor to_host(const Tensor& t) {
  if (!t.defined() || t.device().is_cpu()) return t;
  return t.to(Device::cpu());
}

Tensor poisoned(Backend b, const Shape& shape, Layout layout, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype, Device::cpu(), layout);
  if (dtype == DType::f32)
    t.fill(std::numeric_limits<float>::quiet_NaN());
  else
    std::memset(t.raw(), 0xAB, t.nbytes());
  return device_of(b).is_cpu() ? t : on(b, t);
}

std::string with_backend(const std::string& what, Backend b) {
  return what + " [" + std::string(backend_name(b)) + " vs reference]";
}

std::string tagged(const std::string& what, Backend b) {
  return what + " [" + std::string(backend_name(b)) + "]";
}

::testing::AssertionResult all_close(const std::string& what, const Tensor& got_any,
                                     const Tensor& want_any, Tolerance tol) {
  const Tensor got = to_host(got_any), want = to_host(want_any);
  if (auto r = same_shape(what, got, want); !r) return r;
  const int64_t n = want.numel();
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = value_at(got, memory_index(got, i));
    const double w = value_at(want, memory_index(want, i));
    if (std::isnan(g) && std::isnan(w)) continue;
    const double allowed = tol.abs + tol.rel * std::fabs(w);
    const double err = std::fabs(g - w);
    const double ratio = std::isnan(err) ? std::numeric_limits<double>::infinity() : err / allowed;
    if (ratio > 1.0) ++bad;
    if (ratio > worst_ratio || worst < 0) worst_ratio = ratio, worst = i;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  const int64_t mw = memory_index(want, worst);
  const double g = value_at(got, memory_index(got, worst)), w = value_at(want, mw);
  return ::testing::AssertionFailure() << what << ": " << want.str() << ", " << bad << " of " << n
                                       << " elements out of tolerance (" << tol_str(tol)
                                       << "); worst at " << coords_of_memory(want, mw) << ": got "
                                       << g << ", want " << w << ", |diff| " << std::fabs(g - w);
}

::testing::AssertionResult all_equal(const std::string& what, const Tensor& got_any,
                                     const Tensor& want_any) {
  const Tensor got = to_host(got_any), want = to_host(want_any);
  if (auto r = same_shape(what, got, want); !r) return r;
  const int64_t n = want.numel();
  const size_t es = dtype_size(want.dtype());
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; ++i) {
    const char* g = static_cast<const char*>(got.raw()) + es * memory_index(got, i);
    const char* w = static_cast<const char*>(want.raw()) + es * memory_index(want, i);
    if (std::memcmp(g, w, es) != 0) {
      ++bad;
      if (first < 0) first = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  const int64_t mw = memory_index(want, first);
  return ::testing::AssertionFailure()
         << what << ": " << want.str() << ", " << bad << " of " << n
         << " elements differ; first at " << coords_of_memory(want, mw) << ": got "
         << value_at(got, memory_index(got, first)) << ", want " << value_at(want, mw);
}

double weighted_sum(const Tensor& y, const Tensor& r) {
  SDL_ASSERT(y.shape() == r.shape() && y.layout() == r.layout() && y.dtype() == DType::f32 &&
                 r.dtype() == DType::f32,
             "weighted_sum needs f32 tensors of one shape and layout");
  double s = 0.0;
  for (int64_t i = 0, n = y.numel(); i < n; ++i)
    s += static_cast<double>(y.data<float>()[i]) * r.data<float>()[i];
  return s;
}

::testing::AssertionResult check_gradient(const std::string& what, Tensor input,
                                          const Tensor& analytic,
                                          const std::function<Tensor()>& forward, const Tensor& r,
                                          const FdOptions& opt) {
  if (!analytic.defined() || analytic.shape() != input.shape() ||
      analytic.layout() != input.layout() || analytic.dtype() != DType::f32)
    return ::testing::AssertionFailure()
           << what << ": analytic gradient "
           << (analytic.defined() ? analytic.str() : std::string("undefined"))
           << " does not match the input " << input.str();
  const int64_t n = input.numel();
  std::vector<int64_t> points(static_cast<size_t>(n));
  std::iota(points.begin(), points.end(), int64_t{0});
  if (n > opt.max_points) {
    Rng rng(opt.seed);
    for (int64_t i = 0; i < opt.max_points; ++i)
      std::swap(points[i], points[i + rng.below(static_cast<uint64_t>(n - i))]);
    points.resize(static_cast<size_t>(opt.max_points));
  }
  float* p = input.data<float>();
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0.0, worst_fd = 0.0, worst_an = 0.0;
  for (int64_t m : points) {
    const float orig = p[m];
    const float hi = orig + opt.eps, lo = orig - opt.eps;
    p[m] = hi;
    const double l_hi = weighted_sum(forward(), r);
    p[m] = lo;
    const double l_lo = weighted_sum(forward(), r);
    p[m] = orig;
    const double fd = (l_hi - l_lo) / (static_cast<double>(hi) - lo);
    const double an = analytic.data<float>()[m];
    const double ratio = std::fabs(fd - an) / (opt.tol.abs + opt.tol.rel * std::fabs(an));
    const double r_safe = std::isnan(ratio) ? std::numeric_limits<double>::infinity() : ratio;
    if (r_safe > 1.0) ++bad;
    if (r_safe > worst_ratio || worst < 0)
      worst_ratio = r_safe, worst = m, worst_fd = fd, worst_an = an;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": d/d " << input.str() << ", " << bad << " of " << points.size()
         << " probed elements off (" << tol_str(opt.tol) << ", eps " << opt.eps << "); worst at "
         << coords_of_memory(input, worst) << ": analytic " << worst_an << ", finite difference "
         << worst_fd;
}

}  // namespace scaledl::optest
