// Batcher: per-epoch permutation (cached for the latest epoch), per-sample crop/flip from a
// hash, affine normalization, OpenMP over the batch rows.
#include "reference/batcher.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/rng.h"

namespace scaledl {

struct Batcher::OrderCache {
  std::mutex mu;
  int64_t epoch = -1;
  std::shared_ptr<const std::vector<int64_t>> order;
};

Batcher::Batcher(const ImageSet& set, int64_t batch, bool shuffle, bool drop_last, Augment aug,
                 Layout layout, uint64_t seed)
    : set_(set),
      batch_(batch),
      shuffle_(shuffle),
      drop_last_(drop_last),
      aug_(std::move(aug)),
      layout_(layout),
      seed_(seed),
      cache_(std::make_unique<OrderCache>()) {
  const Tensor& im = set_.images;
  if (!im.defined() || im.dtype() != DType::u8 || im.ndim() != 4)
    throw Error("data", "image set holds " + (im.defined() ? im.str() : std::string("nothing")) +
                            "; want u8 [N, H, W, C] images");
  if (im.dim(0) != set_.size())
    throw Error("data", "image set has " + std::to_string(im.dim(0)) + " images but " +
                            std::to_string(set_.size()) + " labels");
  if (batch_ < 1)
    throw Error("data", "--batch must be at least 1 (got " + std::to_string(batch_) + ")");
  h_ = im.dim(1);
  w_ = im.dim(2);
  c_ = im.dim(3);
  if (aug_.pad < 0 || aug_.pad > h_ || aug_.pad > w_)
    throw Error("data", "crop padding " + std::to_string(aug_.pad) + " must be in 0.." +
                            std::to_string(std::min(h_, w_)) + " for " + std::to_string(h_) + "x" +
                            std::to_string(w_) + " images");
  auto per_channel = [&](std::vector<float>& v, float fallback, const char* what) {
    if (v.empty()) v.assign(static_cast<size_t>(c_), fallback);
    if (v.size() == 1) v.assign(static_cast<size_t>(c_), v[0]);
    if (static_cast<int64_t>(v.size()) != c_)
      throw Error("data", std::string("--") + what + " has " + std::to_string(v.size()) +
                              " values but the images have " + std::to_string(c_) +
                              " channels; give one per channel");
  };
  per_channel(aug_.mean, 0.f, "mean");
  per_channel(aug_.stddev, 1.f, "std");
  for (int64_t c = 0; c < c_; ++c) {
    const float m = aug_.mean[static_cast<size_t>(c)], sd = aug_.stddev[static_cast<size_t>(c)];
    if (!(sd > 0.f))
      throw Error("data", "--std value " + std::to_string(sd) + " for channel " +
                              std::to_string(c) + " must be positive");
    scale_.push_back(1.f / (255.f * sd));  // x = (p / 255 - mean) / std = p * scale + shift
    shift_.push_back(-m / sd);
  }
}

Batcher::~Batcher() = default;
Batcher::Batcher(Batcher&&) noexcept = default;
Batcher& Batcher::operator=(Batcher&&) noexcept = default;

int64_t Batcher::batches_per_epoch() const {
  const int64_t n = set_.size();
  return drop_last_ ? n / batch_ : (n + batch_ - 1) / batch_;
}

std::shared_ptr<const std::vector<int64_t>> Batcher::order(int64_t epoch) const {
  std::lock_guard<std::mutex> lock(cache_->mu);
  if (cache_->order && cache_->epoch == epoch) return cache_->order;
  const int64_t n = set_.size();
  auto order = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) (*order)[static_cast<size_t>(i)] = i;
  if (shuffle_) {
    Rng rng(hash_words(seed_, static_cast<uint64_t>(epoch)));
    for (int64_t i = n - 1; i > 0; --i)
      std::swap((*order)[static_cast<size_t>(i)],
                (*order)[rng.below(static_cast<uint64_t>(i + 1))]);
  }
  cache_->epoch = epoch;
  cache_->order = order;
  return order;
}

int64_t Batcher::sample_at(int64_t epoch, int64_t pos) const {
  if (pos < 0 || pos >= set_.size())
    throw Error("data", "sample position " + std::to_string(pos) + " is outside the " +
                            std::to_string(set_.size()) + " samples of an epoch");
  return shuffle_ ? (*order(epoch))[static_cast<size_t>(pos)] : pos;
}

namespace {

// One output row segment [x0, x1) of channel plane: d[x * ds] = s[sx * ss] * a + b with
// sx = x + dx, or W - 1 - x + dx when flipped. Template flags let the compiler vectorize.
template <bool kFlip, bool kUnit>
void put_row(const uint8_t* s, int64_t ss, float* d, int64_t ds, int64_t x0, int64_t x1, int64_t W,
             int64_t dx, float a, float b) {
  if constexpr (kUnit) ss = ds = 1;
  for (int64_t x = x0; x < x1; ++x) {
    const int64_t sx = kFlip ? W - 1 - x + dx : x + dx;
    d[x * ds] = static_cast<float>(s[sx * ss]) * a + b;
  }
}

}  // namespace

// One image, cropped/flipped per its hash and normalized, into dst (one batch row).
void Batcher::fill_row(int64_t epoch, int64_t sample, float* dst) const {
  const int64_t C = c_, H = h_, W = w_, pad = aug_.pad;
  int64_t dy = 0, dx = 0;
  bool flip = false;
  if (pad > 0 || aug_.flip) {
    const uint64_t h = hash_words(seed_, static_cast<uint64_t>(epoch),
                                  static_cast<uint64_t>(sample), 0x617567 /* aug */);
    const uint64_t span = static_cast<uint64_t>(2 * pad + 1);
    dy = static_cast<int64_t>((h & 0xffffff) % span) - pad;
    dx = static_cast<int64_t>(((h >> 24) & 0xffffff) % span) - pad;
    flip = aug_.flip && (h >> 63);
  }
  const uint8_t* src = set_.images.data<uint8_t>() + sample * H * W * C;
  // Strides of (c, y, x) in the destination row.
  const int64_t cs = layout_ == Layout::nchw ? H * W : 1;
  const int64_t ys = layout_ == Layout::nchw ? W : W * C;
  const int64_t xs = layout_ == Layout::nchw ? 1 : C;
  // Output columns whose source column lies inside the image.
  const int64_t x0 = std::max<int64_t>(0, flip ? dx : -dx);
  const int64_t x1 = std::min<int64_t>(W, flip ? W + dx : W - dx);
  const bool unit = C == 1;
  for (int64_t c = 0; c < C; ++c) {
    const float a = scale_[static_cast<size_t>(c)], b = shift_[static_cast<size_t>(c)];
    for (int64_t y = 0; y < H; ++y) {
      float* d = dst + c * cs + y * ys;
      const int64_t sy = y + dy;
      if (sy < 0 || sy >= H) {  // zero padding rows
        for (int64_t x = 0; x < W; ++x) d[x * xs] = b;
        continue;
      }
      for (int64_t x = 0; x < x0; ++x) d[x * xs] = b;
      for (int64_t x = x1; x < W; ++x) d[x * xs] = b;
      const uint8_t* s = src + sy * W * C + c;
      if (flip) {
        if (unit)
          put_row<true, true>(s, C, d, xs, x0, x1, W, dx, a, b);
        else
          put_row<true, false>(s, C, d, xs, x0, x1, W, dx, a, b);
      } else {
        if (unit)
          put_row<false, true>(s, C, d, xs, x0, x1, W, dx, a, b);
        else
          put_row<false, false>(s, C, d, xs, x0, x1, W, dx, a, b);
      }
    }
  }
}

int64_t Batcher::fill(int64_t epoch, int64_t index, Tensor& x, Tensor& labels) const {
  const Shape want = x_shape();
  if (!x.defined() || x.dtype() != DType::f32 || x.shape() != want || x.layout() != layout_ ||
      !x.device().is_cpu())
    throw Error("data", "batch tensor is " + (x.defined() ? x.str() : std::string("undefined")) +
                            "; want f32" + shape_str(want) + " " +
                            std::string(layout_name(layout_)) + " cpu");
  if (!labels.defined() || labels.dtype() != DType::s32 || labels.numel() != batch_ ||
      !labels.device().is_cpu())
    throw Error("data", "label tensor is " +
                            (labels.defined() ? labels.str() : std::string("undefined")) +
                            "; want s32[" + std::to_string(batch_) + "] cpu");
  if (epoch < 0 || index < 0 || index >= batches_per_epoch())
    throw Error("data", "batch " + std::to_string(index) + " of epoch " + std::to_string(epoch) +
                            " does not exist; an epoch has " + std::to_string(batches_per_epoch()) +
                            " batches");
  const int64_t begin = index * batch_;
  const int64_t real = std::min(batch_, set_.size() - begin);
  std::shared_ptr<const std::vector<int64_t>> ord;
  if (shuffle_) ord = order(epoch);
  const int64_t row = c_ * h_ * w_;
  float* xd = x.data<float>();
  int32_t* ld = labels.data<int32_t>();
#pragma omp parallel for schedule(static) if (batch_ * row >= 32768)
  for (int64_t r = 0; r < batch_; ++r) {
    if (r >= real) {
      std::memset(xd + r * row, 0, static_cast<size_t>(row) * sizeof(float));
      ld[r] = 0;
      continue;
    }
    const int64_t sample = ord ? (*ord)[static_cast<size_t>(begin + r)] : begin + r;
    fill_row(epoch, sample, xd + r * row);
    ld[r] = set_.labels[static_cast<size_t>(sample)];
  }
  return real;
}

}  // namespace scaledl
