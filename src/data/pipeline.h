// The transform a source gets: raw pixel sources (IDX, synthetic, records packed from them) are
// used at their stored size with an optional padded random crop; JPEG sources get
// RandomResizedCrop for training and resize + centre crop for evaluation, ImageNet-style. f32
// sources (npy) are model inputs, copied as stored: no crop, flip or normalization (asking for
// one is an error naming the flag), and the stored size must equal image_size when it is set.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "data/sample_source.h"
#include "data/transform.h"

namespace scaledl {

struct PipelineOptions {
  int64_t image_size = 0;   // JPEG sources: output height = width (0: 224); f32 sources: must
                            // equal the stored size (0: any)
  int pad = 0;              // raw sources: random crop after zero padding (training)
  bool flip = true;         // random horizontal flip (training)
  bool roi_decode = true;   // JPEG: decode only the crop, DCT-scaled
  Layout layout = Layout::nhwc;
  DType dtype = DType::f32;
  std::vector<float> mean, stddev;  // empty: the raw set's own statistics / ImageNet's; not
                                    // applied to f32 sources (already normalized)
};

// The transform for training (`train`) or evaluation of `src`.
Transformer make_transform(const SampleSource& src, bool train, const PipelineOptions& opt);

// Per-channel mean and standard deviation of pixel/255 over the first (up to) 10,000 samples of
// a raw-pixel source (corrupt samples left out).
void channel_stats(const SampleSource& src, std::vector<float>& mean, std::vector<float>& stddev);

}  // namespace scaledl
