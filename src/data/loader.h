// Loader: batches from a SampleSource, decoded and augmented on a thread pool, prefetched.
//
// Step s of the run is batch s % batches_per_epoch() of epoch s / batches_per_epoch(). Its rows
// are this rank's samples at positions [index * batch, (index + 1) * batch) of the epoch plan
// (data/plan.h), and each sample's random augmentation comes from hash(seed, epoch, sample), so
// a batch depends only on (seed, epoch, index, rank, world): not on the thread count, the
// prefetch depth or whether the run was resumed. Workers fill up to `prefetch` batches ahead of
// the consumer, each batch in one contiguous buffer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/plan.h"
#include "data/sample_source.h"
#include "data/transform.h"

namespace scaledl {

struct LoaderOptions {
  int64_t batch = 128;
  int rank = 0, world = 1;
  uint64_t seed = 1;
  ShufflePolicy shuffle;
  LastBatch last = LastBatch::drop;
  int threads = 0;         // decode threads; 0 = one per core
  int prefetch = 2;        // batches filled ahead of the consumer (>= 1)
  int64_t skip_corrupt = 0;  // corrupt samples to skip (each replaced by the next good sample
                             // of the rank's order) before failing
  bool pinned = false;  // batches in page-locked memory (fast copies to a GPU)
};

struct Batch {
  Tensor x;       // [batch, C, H, W] in the transform's layout and dtype
  Tensor labels;  // s32 [batch]; padding rows hold 0
  int64_t real = 0;  // rows holding samples (the rest are padding: zeros, label 0)
  int64_t epoch = 0, index = 0, step = 0;
};

struct LoaderStats {
  uint64_t bytes_read = 0;     // from storage
  int64_t samples = 0;         // decoded and transformed
  int64_t batches = 0;         // handed to the consumer
  int64_t corrupt_skipped = 0;
  std::vector<std::string> corrupt;  // the first few skipped samples' errors
  double wait_seconds = 0;     // time next() blocked waiting for a batch
  double queue_depth_sum = 0;  // batches ready when next() was called, summed over calls
  double mean_queue_depth() const { return batches ? queue_depth_sum / batches : 0.0; }
};

class Loader {
 public:
  Loader(SourcePtr source, Transformer transform, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t batches_per_epoch() const;
  // Real samples per epoch on this rank (what batches_per_epoch() batches hold).
  int64_t samples_per_epoch() const;
  Shape x_shape() const;  // [batch, C, H, W]
  const LoaderOptions& options() const;
  const SampleSource& source() const;
  const Transformer& transform() const;

  // Starts (or restarts) at step `step`; the next next() returns that step's batch. With
  // end >= 0 nothing at or past step `end` is decoded (an evaluation pass, the run's last step)
  // and next() there throws.
  void seek(int64_t step, int64_t end = -1);
  // The next batch, in step order; blocks until it is ready. The returned batch stays valid
  // (and untouched by the workers) until the next call to next() or seek(). Rethrows a worker's
  // error (DataCorrupt past --skip-corrupt, I/O errors) naming the sample.
  const Batch& next();

  // This rank's samples for `epoch`, in order (the plan `scaledl data plan` prints); with
  // LastBatch::drop the epoch reads the first samples_per_epoch() of them.
  std::vector<int64_t> rank_order(int64_t epoch) const;

  LoaderStats stats() const;

 private:
  void stop() noexcept;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scaledl
