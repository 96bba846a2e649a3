// Histograms of |x| and the entropy, percentile and max thresholds over them.
#include "infer/calibrate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace scaledl {

CalibMethod parse_calib_method(const std::string& s, const std::string& flag) {
  if (s == "entropy") return CalibMethod::entropy;
  if (s == "percentile") return CalibMethod::percentile;
  if (s == "max") return CalibMethod::max;
  throw Error("calibration", flag + " '" + s + "': use entropy, percentile or max");
}

std::string_view calib_method_name(CalibMethod m) {
  switch (m) {
    case CalibMethod::entropy:
      return "entropy";
    case CalibMethod::percentile:
      return "percentile";
    case CalibMethod::max:
      return "max";
  }
  return "?";
}

// ---- AbsHistogram ----

AbsHistogram::AbsHistogram(double range) : bins_(kBins, 0) {
  SDL_ASSERT(range >= 0 && std::isfinite(range), "histogram range must be finite and >= 0");
  set_range(range);
}

void AbsHistogram::set_range(double range) {
  range_ = range;
  inv_width_ = range > 0 ? kBins / range : 0.0;
  // Rounded down so that no value <= range computes an index past the last bin.
  while (range * inv_width_ > kBins) inv_width_ = std::nextafter(inv_width_, 0.0);
}

AbsHistogram AbsHistogram::from_counts(std::vector<int64_t> counts, double bin_width,
                                       float max_abs) {
  SDL_ASSERT(counts.size() == size_t(kBins), "from_counts needs kBins counts");
  SDL_ASSERT(bin_width >= 0 && std::isfinite(bin_width), "bin width must be finite and >= 0");
  AbsHistogram h(bin_width * kBins);
  h.bins_ = std::move(counts);
  for (int64_t c : h.bins_) {
    SDL_ASSERT(c >= 0, "histogram counts must be >= 0");
    h.count_ += c;
  }
  h.max_abs_ = max_abs;
  return h;
}

void AbsHistogram::double_range() {
  for (int k = 0; k < kBins / 2; ++k) bins_[k] = bins_[2 * k] + bins_[2 * k + 1];
  std::fill(bins_.begin() + kBins / 2, bins_.end(), 0);
  range_ *= 2;
  inv_width_ *= 0.5;  // exact: every index computed after this is exactly half the old one
}

void AbsHistogram::grow_to(double a) {
  while (a > range_) double_range();
}

void AbsHistogram::add(const float* x, int64_t n) {
  if (range_ == 0) {
    float m = 0;
    for (int64_t j = 0; j < n; ++j) {
      float a = std::fabs(x[j]);
      if (a > m && std::isfinite(a)) m = a;
    }
    set_range(m);  // stays 0 for a batch of zeros (and non-finite values)
  }
  // Bin k holds (k w, (k+1) w]: index = ceil(a / w) - 1, with a / w computed as a * inv_width_.
  // Every range change halves inv_width_ exactly, so each index scales exactly and merged bin
  // pairs hold what binning at the new range would put there.
  double inv_w = inv_width_;
  float m = max_abs_;
  int64_t finite = 0;
  int64_t* bins = bins_.data();
  for (int64_t j = 0; j < n; ++j) {
    float a = std::fabs(x[j]);
    if (!std::isfinite(a)) {
      if (std::isnan(a))
        ++nan_count_;
      else
        ++inf_count_;
      continue;
    }
    ++finite;
    if (a > range_) {
      grow_to(a);
      inv_w = inv_width_;
    }
    m = std::max(m, a);
    double y = double(a) * inv_w;
    int64_t k = int64_t(y);             // floor (y >= 0)
    k -= int64_t(double(k) == y);       // ceil(y) - 1; branch-free, as ReLU zeros come at random
    k = k < 0 ? 0 : k;                  // 0 goes to bin 0
    ++bins[k < kBins ? k : kBins - 1];  // never past the end (inv_width_ is rounded down)
  }
  max_abs_ = m;
  count_ += finite;
}

void AbsHistogram::merge(const AbsHistogram& other) {
  if (other.range_ > 0) {
    if (range_ == 0) {
      set_range(other.range_);  // only zeros so far: they stay in bin 0
    } else {
      double lo = std::min(range_, other.range_), hi = std::max(range_, other.range_);
      double ratio = hi / lo;
      SDL_ASSERT(ratio == std::exp2(std::round(std::log2(ratio))),
                 "merged histograms' ranges must differ by a power of two");
    }
    grow_to(other.range_);
  }
  // other's range is now <= ours by a power of two: fold its bins by that factor.
  int shift = 0;
  if (other.range_ > 0)
    while (std::ldexp(other.range_, shift) < range_) ++shift;
  for (int k = 0; k < kBins; ++k) bins_[k >> shift] += other.bins_[k];
  max_abs_ = std::max(max_abs_, other.max_abs_);
  count_ += other.count_;
  nan_count_ += other.nan_count_;
  inf_count_ += other.inf_count_;
}

// ---- thresholds ----

namespace {

// True when the histogram has a value above 0 (and so a positive bin width).
bool has_nonzero(const AbsHistogram& h) {
  if (h.bin_width() <= 0) return false;
  const auto& b = h.bins();
  return std::any_of(b.begin() + 1, b.end(), [](int64_t c) { return c > 0; }) ||
         (b[0] > 0 && h.max_abs() > 0);
}

// KL values this close count as equal: the smaller threshold wins a tie up to rounding.
constexpr double kKlTies = 1e-12;

}  // namespace

// KL(P||Q) per candidate in O(quant_levels) from prefix sums. With counts c_k, S = total,
// R = sum of c over [0, i), P_k = c_k (k < i-1), P_{i-1} = c_{i-1} + S - R, and per group g:
// Pg = sum of P, Gg = sum of c, ng = bins with P > 0, q = Gg / (ng R) on those bins:
//   KL = sum P_k/S log(P_k/S / q_k) = (sum P_k log P_k) / S - log S - sum_g Pg log(Gg/(ng R)) / S.
int entropy_threshold_bins(const AbsHistogram& h, int quant_levels) {
  constexpr int B = AbsHistogram::kBins;
  SDL_ASSERT(quant_levels >= 1 && quant_levels <= B, "quant_levels must be in [1, kBins]");
  if (!has_nonzero(h)) return 0;
  const auto& c = h.bins();
  std::vector<int64_t> cum(B + 1, 0), nz(B + 1, 0);
  std::vector<double> clogc(B + 1, 0.0);
  for (int k = 0; k < B; ++k) {
    cum[k + 1] = cum[k] + c[k];
    nz[k + 1] = nz[k] + (c[k] > 0);
    clogc[k + 1] = clogc[k] + (c[k] > 0 ? double(c[k]) * std::log(double(c[k])) : 0.0);
  }
  std::vector<double> log_n(B + 1, 0.0);
  for (int k = 1; k <= B; ++k) log_n[k] = std::log(double(k));
  const int64_t S = cum[B];
  const double log_s = std::log(double(S));
  const int L = quant_levels;
  // log of the count in bins [a, a + w) for every group width w a candidate can have (at most
  // ceil(B / L)): a table lookup instead of a log per group per candidate.
  const int widest = (B + L - 1) / L;
  const bool table = widest <= 32;
  std::vector<double> log_sum(table ? size_t(widest) * B : 0, 0.0);
  for (int w = 1; table && w <= widest; ++w)
    for (int a = 0; a + w <= B; ++a) {
      int64_t G = cum[a + w] - cum[a];
      log_sum[size_t(w - 1) * B + a] = G > 0 ? std::log(double(G)) : 0.0;
    }
  std::vector<double> kl(B + 1, std::numeric_limits<double>::infinity());
  double best = std::numeric_limits<double>::infinity();
  for (int i = L; i <= B; ++i) {
    const int64_t R = cum[i];
    const int64_t outliers = S - R;
    const int64_t last = c[i - 1] + outliers;
    double plogp = clogc[i - 1] + (last > 0 ? double(last) * std::log(double(last)) : 0.0);
    // cross = sum_g Pg log(Gg / (ng R)) = sum_g Pg (log Gg - log ng) - S log R.
    double cross = -double(S) * std::log(double(R));
    bool finite = true;
    int a = 0;
    for (int g = 0; g < L; ++g) {
      int b = int(int64_t(g + 1) * i / L);
      int64_t G = cum[b] - cum[a];
      int64_t P = G, n = nz[b] - nz[a];
      if (g == L - 1) {  // holds bin i-1 and so the folded outliers
        P += outliers;
        n = nz[b - 1] - nz[a] + (last > 0);
      }
      if (P > 0 && G == 0) {
        finite = false;
        break;
      }
      double log_g = table ? log_sum[size_t(b - a - 1) * B + a] : std::log(double(G));
      if (P > 0) cross += double(P) * (log_g - log_n[n]);
      a = b;
    }
    if (!finite) continue;
    kl[i] = (plogp - cross) / double(S) - log_s;
    best = std::min(best, kl[i]);
  }
  int best_i = L;
  while (!(kl[best_i] <= best + kKlTies)) ++best_i;
  return best_i;
}

float entropy_threshold(const AbsHistogram& h, int quant_levels) {
  int i = entropy_threshold_bins(h, quant_levels);
  if (i == 0) return 0.0f;
  return float((i + 0.5) * h.bin_width());
}

float percentile_threshold(const AbsHistogram& h, double percentile) {
  if (!(percentile > 0 && percentile <= 100))
    throw Error("calibration", "percentile " + std::to_string(percentile) +
                                   " is outside (0, 100]: pass --calib-percentile between 0 and "
                                   "100, e.g. 99.99");
  if (!has_nonzero(h)) return 0.0f;
  const auto& c = h.bins();
  int64_t total = 0;
  for (int64_t v : c) total += v;
  const double target = percentile / 100.0 * double(total);
  int64_t below = 0;
  for (int k = 0; k < AbsHistogram::kBins; ++k) {
    if (c[k] > 0 && double(below + c[k]) >= target) {
      double t = (k + (target - double(below)) / double(c[k])) * h.bin_width();
      return std::min(float(t), h.max_abs());
    }
    below += c[k];
  }
  return h.max_abs();  // rounding left the target above the total
}

float max_threshold(const AbsHistogram& h) {
  return h.max_abs();
}

float calib_threshold(const AbsHistogram& h, CalibMethod method, double percentile) {
  switch (method) {
    case CalibMethod::entropy:
      return entropy_threshold(h);
    case CalibMethod::percentile:
      return percentile_threshold(h, percentile);
    case CalibMethod::max:
      return max_threshold(h);
  }
  return max_threshold(h);
}

}  // namespace scaledl
