// Calibration: AbsHistogram's range doubling and bookkeeping, and the entropy, percentile and
// max thresholds against an independent numpy computation (tests/fixtures/entropy_threshold.json).
#include "infer/calibrate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "core/error.h"

namespace scaledl {
namespace {

void expect_rel(double got, double want, const std::string& what) {
  EXPECT_LE(std::fabs(got - want), 1e-6 * std::fabs(want)) << what << ": " << got << " vs " << want;
}

TEST(CalibEntropyFixture, MatchesNumpy) {
  std::string path = std::string(SCALEDL_SOURCE_DIR) + "/tests/fixtures/entropy_threshold.json";
  std::ifstream f(path);
  ASSERT_TRUE(f) << path;
  nlohmann::json doc = nlohmann::json::parse(f);
  ASSERT_EQ(doc["bins"].get<int>(), AbsHistogram::kBins);
  ASSERT_GE(doc["cases"].size(), 5u);
  for (const auto& c : doc["cases"]) {
    std::string name = c["name"].get<std::string>();
    int levels = c["quant_levels"].get<int>();
    auto h = AbsHistogram::from_counts(c["counts"].get<std::vector<int64_t>>(),
                                       c["bin_width"].get<double>(), c["max_abs"].get<float>());
    EXPECT_EQ(entropy_threshold_bins(h, levels), c["entropy_bins"].get<int>()) << name;
    expect_rel(entropy_threshold(h, levels), c["entropy_threshold"].get<double>(),
               name + " entropy");
    if (levels == 128)
      expect_rel(calib_threshold(h, CalibMethod::entropy), c["entropy_threshold"].get<double>(),
                 name + " calib_threshold(entropy)");
    for (const auto& p : c["percentiles"]) {
      double pct = p["percentile"].get<double>();
      expect_rel(percentile_threshold(h, pct), p["threshold"].get<double>(),
                 name + " percentile " + std::to_string(pct));
      expect_rel(calib_threshold(h, CalibMethod::percentile, pct), p["threshold"].get<double>(),
                 name + " calib_threshold(percentile)");
    }
    expect_rel(max_threshold(h), c["max_threshold"].get<double>(), name + " max");
    expect_rel(calib_threshold(h, CalibMethod::max), c["max_threshold"].get<double>(),
               name + " calib_threshold(max)");
  }
}

// Batches whose max grows: the streamed histogram doubles its range several times and must equal
// one built in a single pass at the final range.
TEST(AbsHistogramTest, RangeDoublingKeepsCountsExact) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> all;
  AbsHistogram streamed;
  float first_max = 0;
  for (int b = 0; b < 6; ++b) {
    std::vector<float> x(5000);
    float scale = std::pow(2.7f, float(b));
    for (auto& v : x) v = normal(rng) * scale;
    x[b] = 0.0f;
    if (b == 0)
      for (float v : x) first_max = std::max(first_max, std::fabs(v));
    streamed.add(x.data(), int64_t(x.size()));
    all.insert(all.end(), x.begin(), x.end());
  }
  ASSERT_GT(streamed.range(), 100 * first_max);
  double doublings = std::log2(streamed.range() / first_max);
  EXPECT_EQ(doublings, std::round(doublings));  // the range is first_max * 2^k
  AbsHistogram once(streamed.range());
  once.add(all.data(), int64_t(all.size()));
  EXPECT_EQ(streamed.bins(), once.bins());
  EXPECT_EQ(streamed.count(), int64_t(all.size()));
  EXPECT_EQ(once.count(), int64_t(all.size()));
  EXPECT_EQ(streamed.max_abs(), once.max_abs());
  float want_max = 0;
  for (float v : all) want_max = std::max(want_max, std::fabs(v));
  EXPECT_EQ(streamed.max_abs(), want_max);
  EXPECT_GT(streamed.bins()[0], 0);
}

TEST(AbsHistogramTest, RangeStartsAtFirstNonZeroBatchMax) {
  AbsHistogram h;
  std::vector<float> zeros(10, 0.0f), x = {0.5f, -3.0f, 1.5f, 0.0f};
  h.add(zeros.data(), 10);
  EXPECT_EQ(h.range(), 0.0);
  EXPECT_EQ(h.bins()[0], 10);
  h.add(x.data(), 4);
  EXPECT_EQ(h.range(), 3.0);
  EXPECT_EQ(h.bin_width(), 3.0 / 2048);
  // Right-closed bins: 3 is in the last bin, 1.5 = 1024 w in bin 1023, 0.5 in ceil(341.33)-1.
  EXPECT_EQ(h.bins()[2047], 1);
  EXPECT_EQ(h.bins()[1023], 1);
  EXPECT_EQ(h.bins()[341], 1);
  EXPECT_EQ(h.bins()[0], 11);
  EXPECT_EQ(h.count(), 14);
  EXPECT_EQ(h.max_abs(), 3.0f);
  std::vector<float> big = {7.0f};  // 3 -> 6 -> 12
  h.add(big.data(), 1);
  EXPECT_EQ(h.range(), 12.0);
  EXPECT_EQ(h.bins()[511], 1);  // 3 = 512 w at the new width
  EXPECT_EQ(h.bins()[255], 1);  // 1.5 = 256 w
}

TEST(AbsHistogramTest, NonFiniteCountedAndSkipped) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> clean = {1.0f, -2.0f, 0.25f, 0.0f};
  std::vector<float> dirty = {nan, 1.0f, inf, -2.0f, -inf, 0.25f, nan, 0.0f, -nan};
  AbsHistogram a, b;
  a.add(clean.data(), 4);
  b.add(dirty.data(), int64_t(dirty.size()));
  EXPECT_EQ(b.nan_count(), 3);
  EXPECT_EQ(b.inf_count(), 2);
  EXPECT_EQ(b.count(), 4);
  EXPECT_EQ(b.bins(), a.bins());
  EXPECT_EQ(b.range(), 2.0);
  EXPECT_EQ(b.max_abs(), 2.0f);
  EXPECT_EQ(a.nan_count() + a.inf_count(), 0);
  // A batch of nothing but NaN and inf sets no range.
  AbsHistogram c;
  std::vector<float> bad = {nan, inf};
  c.add(bad.data(), 2);
  EXPECT_EQ(c.range(), 0.0);
  EXPECT_EQ(c.count(), 0);
  EXPECT_EQ(entropy_threshold(c), 0.0f);
}

// Zeros only (or nothing): every method gives 0, with no division by zero.
TEST(AbsHistogramTest, AllZeroGivesZeroThreshold) {
  AbsHistogram empty, zeros;
  std::vector<float> z(1000, 0.0f);
  z[3] = -0.0f;
  zeros.add(z.data(), int64_t(z.size()));
  for (const AbsHistogram* h : {&empty, &zeros}) {
    EXPECT_EQ(h->bin_width(), 0.0);
    for (CalibMethod m : {CalibMethod::entropy, CalibMethod::percentile, CalibMethod::max}) {
      float t = calib_threshold(*h, m, 99.99);
      EXPECT_EQ(t, 0.0f) << calib_method_name(m);
    }
    EXPECT_EQ(entropy_threshold_bins(*h), 0);
  }
  EXPECT_EQ(zeros.count(), 1000);
  EXPECT_EQ(zeros.bins()[0], 1000);
}

TEST(AbsHistogramTest, MergeEqualsOneHistogram) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(3000), y(3000);
  for (auto& v : x) v = u(rng);
  for (auto& v : y) v = 9.0f * u(rng);
  AbsHistogram hx(1.0), hy(1.0), both(1.0), zeros;
  hx.add(x.data(), 3000);
  hy.add(y.data(), 3000);
  both.add(x.data(), 3000);
  both.add(y.data(), 3000);
  std::vector<float> z(5, 0.0f);
  zeros.add(z.data(), 5);
  both.add(z.data(), 5);
  hx.merge(hy);  // hy's range is 16: hx grows to it
  hx.merge(zeros);
  EXPECT_EQ(hx.range(), 16.0);
  EXPECT_EQ(hx.bins(), both.bins());
  EXPECT_EQ(hx.count(), both.count());
  EXPECT_EQ(hx.max_abs(), both.max_abs());
  // The other way round: the wider histogram takes in the narrower one.
  AbsHistogram hx2(1.0), hy2(1.0);
  hx2.add(x.data(), 3000);
  hy2.add(y.data(), 3000);
  hy2.merge(hx2);
  hy2.merge(zeros);
  EXPECT_EQ(hy2.bins(), both.bins());
}

// Values that all fit the first 128 bins are kept whole: every candidate from 128 up to where a
// merged group first meets data ties at KL 0, and the tie goes to the smallest.
TEST(EntropyThresholdTest, DenseHistogramKeepsSmallestCandidate) {
  std::vector<int64_t> counts(AbsHistogram::kBins, 0);
  for (int k = 0; k < 100; ++k) counts[k] = 1000 - 5 * k;
  auto h = AbsHistogram::from_counts(counts, 0.01, 1.0f);
  EXPECT_EQ(entropy_threshold_bins(h), 128);
  EXPECT_FLOAT_EQ(entropy_threshold(h), float(128.5 * 0.01));
}

// A far outlier is clipped at the end of the dense part, never inside the empty gap (folding it
// into a last group with no data before the fold makes Q = 0 where P > 0: KL = +inf).
TEST(EntropyThresholdTest, ClipsOutlierNotIntoTheGap) {
  std::vector<int64_t> counts(AbsHistogram::kBins, 0);
  for (int k = 0; k < 400; ++k) counts[k] = 2000 - 4 * k;
  counts[1900] = 3;
  auto h = AbsHistogram::from_counts(counts, 0.01, 19.005f);
  int i = entropy_threshold_bins(h);
  EXPECT_GE(i, 128);
  EXPECT_LE(i, 403);  // the last group, about i / 128 bins wide, must still reach the data
  // Dense part inside the first 128 bins: no candidate below the outlier can clip it, so the
  // outlier is kept.
  std::vector<int64_t> small(AbsHistogram::kBins, 0);
  for (int k = 0; k < 100; ++k) small[k] = 1000;
  small[1900] = 1;
  EXPECT_GT(entropy_threshold_bins(AbsHistogram::from_counts(small, 0.01, 19.005f)), 1900);
}

TEST(CalibPercentileTest, InterpolatesWithinBinAndChecksRange) {
  std::vector<int64_t> counts(AbsHistogram::kBins, 0);
  counts[0] = 50;
  counts[9] = 50;  // bin 9 holds (9 w, 10 w]
  auto h = AbsHistogram::from_counts(counts, 0.5, 4.9f);
  EXPECT_FLOAT_EQ(percentile_threshold(h, 50.0), 0.5f);              // end of bin 0
  EXPECT_FLOAT_EQ(percentile_threshold(h, 75.0), (9 + 0.5) * 0.5f);  // half way through bin 9
  EXPECT_FLOAT_EQ(percentile_threshold(h, 100.0), 4.9f);             // capped at max_abs
  for (double bad : {0.0, -1.0, 100.5, std::nan("")}) {
    try {
      percentile_threshold(h, bad);
      ADD_FAILURE() << "expected an error for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--calib-percentile"), std::string::npos) << e.what();
    }
  }
}

TEST(CalibMethodTest, ParsesAndNames) {
  for (CalibMethod m : {CalibMethod::entropy, CalibMethod::percentile, CalibMethod::max})
    EXPECT_EQ(parse_calib_method(std::string(calib_method_name(m))), m);
  EXPECT_EQ(calib_method_name(CalibMethod::entropy), "entropy");
  try {
    parse_calib_method("kl", "--method");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.component(), "calibration");
    EXPECT_NE(msg.find("--method"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'kl'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("entropy, percentile or max"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  try {
    parse_calib_method("Entropy");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--calib-method 'Entropy'"), std::string::npos);
  }
}

}  // namespace
}  // namespace scaledl
