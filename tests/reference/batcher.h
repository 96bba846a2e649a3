// Reference for the input pipeline's raw-image path: the Batcher that fed training before the
// Loader (data/loader.h) replaced it, kept in the tests as the oracle the Transformer's
// CropMode::none must match byte for byte (so Fashion-MNIST runs stay bit-identical).
//
// Batcher: turns an ImageSet into f32 batches, statelessly. Batch `index` of `epoch` depends
// only on (seed, epoch, index): the epoch's order is a Fisher-Yates permutation drawn from
// hash_words(seed, epoch), and each sample's crop and flip from hash_words(seed, epoch, sample),
// so a run resumed at (epoch, index) sees exactly the batches it would have seen.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "data/image_set.h"

namespace scaledl {

struct Augment {
  int pad = 0;                      // random crop after zero padding by this many pixels
  bool flip = false;                // random horizontal flip
  std::vector<float> mean, stddev;  // per channel, applied to x/255 (empty: none)
};

class Batcher {
 public:
  Batcher(const ImageSet& set, int64_t batch, bool shuffle, bool drop_last, Augment aug,
          Layout layout, uint64_t seed);
  ~Batcher();
  Batcher(Batcher&&) noexcept;
  Batcher& operator=(Batcher&&) noexcept;

  int64_t batches_per_epoch() const;
  // Fills x (f32 [batch, C, H, W] in `layout`, allocated by the caller) and labels (s32
  // [batch]) with batch `index` of `epoch`. Returns the number of real samples (< batch only
  // for the last batch when !drop_last; the remaining rows are zero images with label 0).
  int64_t fill(int64_t epoch, int64_t index, Tensor& x, Tensor& labels) const;
  // Dataset index of the sample at position `pos` of `epoch`'s order.
  int64_t sample_at(int64_t epoch, int64_t pos) const;

  int64_t batch() const { return batch_; }
  Layout layout() const { return layout_; }
  // Shape x must have: [batch, C, H, W].
  Shape x_shape() const { return {batch_, c_, h_, w_}; }
  const ImageSet& set() const { return set_; }

 private:
  struct OrderCache;
  std::shared_ptr<const std::vector<int64_t>> order(int64_t epoch) const;
  void fill_row(int64_t epoch, int64_t sample, float* dst) const;

  ImageSet set_;
  int64_t batch_;
  bool shuffle_, drop_last_;
  Augment aug_;
  Layout layout_;
  uint64_t seed_;
  int64_t c_, h_, w_;
  std::vector<float> scale_, shift_;  // per channel: x = pixel * scale + shift
  std::unique_ptr<OrderCache> cache_;
};

}  // namespace scaledl
