// Epoch plans: global permutations and rank shares.
#include "data/plan.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "core/rng.h"

namespace scaledl {

ShufflePolicy parse_shuffle(const std::string& s, const std::string& flag) {
  ShufflePolicy p;
  if (s == "full") return p;
  if (s == "none") {
    p.mode = ShuffleMode::none;
    return p;
  }
  if (s.rfind("buffer:", 0) == 0) {
    try {
      size_t used = 0;
      p.buffer = std::stoll(s.substr(7), &used);
      if (used == s.size() - 7 && p.buffer > 0) {
        p.mode = ShuffleMode::buffer;
        return p;
      }
    } catch (const std::exception&) {
    }
  }
  throw Error("data", flag + " '" + s + "': use full, none or buffer:K (K > 0 samples)");
}

std::string shuffle_str(const ShufflePolicy& p) {
  switch (p.mode) {
    case ShuffleMode::none: return "none";
    case ShuffleMode::full: return "full";
    case ShuffleMode::buffer: return "buffer:" + std::to_string(p.buffer);
  }
  return "?";
}

LastBatch parse_last_batch(const std::string& s, const std::string& flag) {
  if (s == "drop") return LastBatch::drop;
  if (s == "pad") return LastBatch::pad;
  if (s == "partial") return LastBatch::partial;
  throw Error("data", flag + " '" + s + "': use drop, pad or partial");
}

const char* last_batch_str(LastBatch l) {
  switch (l) {
    case LastBatch::drop: return "drop";
    case LastBatch::pad: return "pad";
    case LastBatch::partial: return "partial";
  }
  return "?";
}

std::vector<int64_t> epoch_order(int64_t n, const ShufflePolicy& shuffle, uint64_t seed,
                                 int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  if (shuffle.mode == ShuffleMode::full) {
    Rng rng(hash_words(seed, static_cast<uint64_t>(epoch)));
    for (int64_t i = n - 1; i > 0; --i)
      std::swap(order[static_cast<size_t>(i)], order[rng.below(static_cast<uint64_t>(i + 1))]);
  } else if (shuffle.mode == ShuffleMode::buffer) {
    // Stream storage order through a K-slot buffer: each output is a random slot, refilled by
    // the next incoming sample; the buffer drains in random order at the end.
    Rng rng(hash_words(seed, static_cast<uint64_t>(epoch), 0x627566 /* buf */));
    const size_t k = static_cast<size_t>(std::min<int64_t>(shuffle.buffer, n));
    std::vector<int64_t> buf(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
    size_t out = 0;
    for (size_t next = k; next < order.size(); ++next) {
      const size_t j = rng.below(k);
      const int64_t incoming = order[next];
      order[out++] = buf[j];
      buf[j] = incoming;
    }
    while (!buf.empty()) {
      const size_t j = rng.below(buf.size());
      order[out++] = buf[j];
      buf[j] = buf.back();
      buf.pop_back();
    }
  }
  return order;
}

std::vector<int64_t> rank_share(const std::vector<int64_t>& order, int rank, int world) {
  check_rank(rank, world);
  std::vector<int64_t> mine;
  mine.reserve(order.size() / static_cast<size_t>(world) + 1);
  for (size_t i = static_cast<size_t>(rank); i < order.size(); i += static_cast<size_t>(world))
    mine.push_back(order[i]);
  return mine;
}

int64_t rank_samples(int64_t n, int rank, int world) {
  return n / world + (rank < n % world ? 1 : 0);
}

int64_t batches_per_epoch(int64_t n, int64_t batch, int world, LastBatch last) {
  if (last == LastBatch::drop) return n / world / batch;
  const int64_t most = (n + world - 1) / world;
  return (most + batch - 1) / batch;
}

void check_rank(int rank, int world) {
  if (world < 1)
    throw Error("data", "--world " + std::to_string(world) + " must be at least 1");
  if (rank < 0 || rank >= world)
    throw Error("data", "--rank " + std::to_string(rank) + " must be in 0.." +
                            std::to_string(world - 1) + " for --world " + std::to_string(world));
}

}  // namespace scaledl
