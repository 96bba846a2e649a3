// Epoch plans: which samples a rank reads in an epoch, and in what order. A plan is a pure
// function of (sample count, shuffle policy, seed, epoch, rank, world): every rank computes the
// same global order and takes every world-th position from its rank on, so across ranks each
// sample is read exactly once per epoch, in a new order every epoch, with no coordination.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scaledl {

enum class ShuffleMode {
  none,    // storage order
  full,    // a uniform permutation of all samples (Fisher-Yates)
  buffer,  // tf.data style: a K-sample buffer over storage order (not a shuffle of the epoch
           // when K is much smaller than the data set)
};

struct ShufflePolicy {
  ShuffleMode mode = ShuffleMode::full;
  int64_t buffer = 0;  // ShuffleMode::buffer: K
};

// "full", "none" or "buffer:K"; throws Error naming `flag` otherwise.
ShufflePolicy parse_shuffle(const std::string& s, const std::string& flag = "--shuffle");
std::string shuffle_str(const ShufflePolicy& p);

enum class LastBatch {
  drop,     // only whole batches; every rank runs floor(floor(N / world) / batch) steps
  pad,      // whole batches; the last rows past a rank's samples are padding (not real)
  partial,  // the last batch of a rank holds only its remaining samples
};
LastBatch parse_last_batch(const std::string& s, const std::string& flag = "--last-batch");
const char* last_batch_str(LastBatch l);

// The global order of an epoch: a permutation of 0..n-1. Full shuffle draws Fisher-Yates from
// Rng(hash_words(seed, epoch)).
std::vector<int64_t> epoch_order(int64_t n, const ShufflePolicy& shuffle, uint64_t seed,
                                 int64_t epoch);

// Rank `rank`'s share of `order`: positions rank, rank + world, rank + 2 * world, ...
std::vector<int64_t> rank_share(const std::vector<int64_t>& order, int rank, int world);

// Samples rank `rank` of `world` holds per epoch (ranks below n % world hold one more).
int64_t rank_samples(int64_t n, int rank, int world);

// Batches per epoch, the same on every rank (so collectives never wait on a rank that ran out):
// drop: floor(floor(n / world) / batch); pad and partial: ceil(ceil(n / world) / batch), where a
// rank with fewer samples may end with a batch of no real samples.
int64_t batches_per_epoch(int64_t n, int64_t batch, int world, LastBatch last);

// Checks rank/world (0 <= rank < world) naming --rank/--world.
void check_rank(int rank, int world);

}  // namespace scaledl
