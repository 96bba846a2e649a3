// Activation calibration for int8: a histogram of |x| per tensor, gathered over the
// calibration inputs, and the clipping threshold T chosen from it (KL divergence as TensorRT
// does it, a percentile, or the max).
//
// For the engine: a threshold T becomes a scale. A signed tensor quantizes with
// s8 scale = 127 / T (q = clamp(round(x * 127 / T), -127, 127)); a non-negative one (after
// ReLU) with u8 scale = 255 / T. A threshold of 0 means the tensor was 0 on every calibration
// input (or held no finite value): any scale represents it exactly, so use a stand-in such as
// T = 1 rather than dividing by 0 (calib_threshold never returns a negative or non-finite T).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace scaledl {

enum class CalibMethod { entropy, percentile, max };

// "entropy" | "percentile" | "max"; anything else throws Error naming `flag` and the value.
CalibMethod parse_calib_method(const std::string& s, const std::string& flag = "--calib-method");
std::string_view calib_method_name(CalibMethod m);

// Histogram of |x|: kBins bins of width w = range / kBins over [0, range]. Bin k holds
// (k w, (k+1) w] (to rounding), bin 0 also holds 0 (right-closed bins: a value equal to the range
// lands in the last bin, and doubling the range maps every bin exactly onto one of the new ones).
// The range is fixed by the constructor, or (range 0) set by the first batch holding a
// non-zero finite value to that batch's max |x|; a later larger value doubles the range,
// merging adjacent bin pairs, until it fits. NaN and ±inf are counted apart and not binned.
class AbsHistogram {
 public:
  static constexpr int kBins = 2048;

  // range 0: taken from the first non-zero batch; range > 0: start at this range.
  explicit AbsHistogram(double range = 0.0);
  // A histogram given as kBins counts of `bin_width` (fixtures, tests); max_abs as recorded.
  static AbsHistogram from_counts(std::vector<int64_t> counts, double bin_width, float max_abs);

  // One pass over x (two for the batch that sets the range).
  void add(const float* x, int64_t n);
  // Adds other's counts. Exact: the ranges must be equal or one a power-of-two multiple of
  // the other (e.g. per-thread histograms constructed with one starting range), or either 0.
  void merge(const AbsHistogram& other);

  const std::vector<int64_t>& bins() const { return bins_; }
  double range() const { return range_; }
  double bin_width() const { return range_ / kBins; }
  float max_abs() const { return max_abs_; }
  int64_t count() const { return count_; }          // finite values binned (zeros included)
  int64_t nan_count() const { return nan_count_; }  // skipped
  int64_t inf_count() const { return inf_count_; }  // skipped (+inf and -inf)

 private:
  void set_range(double range);
  void grow_to(double a);  // doubles the range until a <= range
  void double_range();

  std::vector<int64_t> bins_;
  double range_ = 0.0;
  double inv_width_ = 0.0;  // kBins / range_, rounded down so range_ maps to at most kBins
  float max_abs_ = 0.0f;
  int64_t count_ = 0, nan_count_ = 0, inf_count_ = 0;
};

// TensorRT's KL-divergence threshold. For each candidate i in [quant_levels, kBins]:
//   P = bins[0, i) with the count of bins[i, kBins) added to bin i-1;
//   Q = bins[0, i) (before that fold: otherwise i = quant_levels would give Q = P) summed in
//       quant_levels groups, group g = bins [floor(g i / L), floor((g+1) i / L)), each group's
//       sum spread evenly over the bins of the group where P is non-zero (0 elsewhere);
//   KL(P || Q) of the normalized P and Q over the bins where P > 0.
// If P > 0 in a bin where Q = 0 (only the last group can be all zero before the fold while
// holding folded outliers) KL is +inf: that candidate is never chosen; i = kBins folds nothing
// and is always finite. The chosen i is the first one whose KL is within 1e-12 of the least
// (ties up to rounding go to the smaller threshold);
// threshold = (i + 0.5) * bin_width (the TensorRT convention: i counts the kept bins).
// Returns 0 for a histogram holding no value or only zeros. O(kBins * quant_levels).
float entropy_threshold(const AbsHistogram& h, int quant_levels = 128);
// The kept-bin count i that entropy_threshold chose (0 for an empty or all-zero histogram).
int entropy_threshold_bins(const AbsHistogram& h, int quant_levels = 128);

// The |x| below which `percentile` percent of the values lie, interpolated linearly within the
// bin where the cumulative count reaches it, and at most max_abs. 0 < percentile <= 100
// (Error otherwise). 0 for an empty histogram.
float percentile_threshold(const AbsHistogram& h, double percentile = 99.99);
// max_abs.
float max_threshold(const AbsHistogram& h);
// The threshold by `method` (percentile is used by CalibMethod::percentile only).
float calib_threshold(const AbsHistogram& h, CalibMethod method, double percentile = 99.99);

}  // namespace scaledl
