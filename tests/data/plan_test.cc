// Epoch plans: exactly once across ranks, new orders each epoch, reproducible, buffer shuffle.
#include "data/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace scaledl {
namespace {

TEST(Plan, EverySampleExactlyOncePerEpochAcrossRanks) {
  for (const char* mode : {"full", "none", "buffer:37"}) {
    const ShufflePolicy sp = parse_shuffle(mode);
    for (int64_t n : {1, 7, 100, 1001}) {
      for (int world = 1; world <= 8; ++world) {
        for (int64_t epoch : {0, 3}) {
          const std::vector<int64_t> order = epoch_order(n, sp, 42, epoch);
          std::vector<int> seen(static_cast<size_t>(n), 0);
          int64_t total = 0;
          for (int rank = 0; rank < world; ++rank) {
            const std::vector<int64_t> mine = rank_share(order, rank, world);
            EXPECT_EQ(static_cast<int64_t>(mine.size()), rank_samples(n, rank, world));
            for (int64_t s : mine) ++seen[static_cast<size_t>(s)];
            total += static_cast<int64_t>(mine.size());
          }
          EXPECT_EQ(total, n);
          EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }))
              << mode << " n=" << n << " world=" << world << " epoch=" << epoch;
        }
      }
    }
  }
}

TEST(Plan, OrdersDifferAcrossEpochsAndRepeatWithTheSeed) {
  const ShufflePolicy full;
  const std::vector<int64_t> e0 = epoch_order(1000, full, 7, 0);
  const std::vector<int64_t> e1 = epoch_order(1000, full, 7, 1);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(e0, epoch_order(1000, full, 7, 0));
  EXPECT_NE(e0, epoch_order(1000, full, 8, 0));
  // Not merely rotated: few samples keep their position between epochs.
  int64_t same = 0;
  for (size_t i = 0; i < e0.size(); ++i) same += e0[i] == e1[i];
  EXPECT_LT(same, 20);
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(epoch_order(1000, parse_shuffle("none"), 7, 5), iota);
}

TEST(Plan, SmallShuffleBufferOnlyMovesSamplesLocally) {
  // The study's point: a K-sample buffer is not a shuffle of the epoch. A sample can only come
  // out after the K - 1 samples ahead of it went in, so early outputs come from early storage.
  const int64_t n = 10000, k = 100;
  const std::vector<int64_t> b = epoch_order(n, parse_shuffle("buffer:100"), 3, 0);
  for (int64_t i = 0; i < n - k; ++i) EXPECT_LT(b[static_cast<size_t>(i)], i + k) << i;
  const std::vector<int64_t> f = epoch_order(n, ShufflePolicy{}, 3, 0);
  int64_t late = 0;  // full shuffle: about half of the first half comes from the second half
  for (int64_t i = 0; i < n / 2; ++i) late += f[static_cast<size_t>(i)] >= n / 2;
  EXPECT_GT(late, n / 5);
  EXPECT_NE(b, epoch_order(n, parse_shuffle("buffer:100"), 3, 1));
}

TEST(Plan, BatchesPerEpochIsTheSameOnEveryRank) {
  EXPECT_EQ(batches_per_epoch(1000, 32, 1, LastBatch::drop), 31);
  EXPECT_EQ(batches_per_epoch(1000, 32, 1, LastBatch::partial), 32);
  EXPECT_EQ(batches_per_epoch(1001, 10, 4, LastBatch::drop), 25);   // 250 per rank
  EXPECT_EQ(batches_per_epoch(1001, 10, 4, LastBatch::pad), 26);    // rank 0 holds 251
  EXPECT_EQ(batches_per_epoch(10, 1, 4, LastBatch::partial), 3);
  // One count for every rank: with drop no rank runs out of samples for it, with pad and
  // partial every rank's share fits in it.
  for (int64_t n : {10, 1000, 1001, 1023})
    for (int world : {1, 3, 4, 7})
      for (int rank = 0; rank < world; ++rank) {
        const int64_t mine = rank_samples(n, rank, world), batch = 8;
        EXPECT_LE(batches_per_epoch(n, batch, world, LastBatch::drop) * batch, mine);
        for (LastBatch l : {LastBatch::pad, LastBatch::partial})
          EXPECT_GE(batches_per_epoch(n, batch, world, l) * batch, mine);
      }
}

TEST(Plan, BadSpecsNameTheFlag) {
  for (const char* s : {"buffer:", "buffer:0", "buffer:x", "random", ""}) {
    try {
      parse_shuffle(s);
      ADD_FAILURE() << s;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--shuffle"), std::string::npos);
    }
  }
  EXPECT_THROW(parse_last_batch("keep"), Error);
  EXPECT_THROW(check_rank(2, 2), Error);
  EXPECT_THROW(check_rank(0, 0), Error);
}

}  // namespace
}  // namespace scaledl
