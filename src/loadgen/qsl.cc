// SampleLibrary: decode and preprocess on LoadSamplesToRam (qsl.h).
#include "loadgen/qsl.h"

#include "core/error.h"
#include "data/record.h"

namespace scaledl::lg {

SampleLibrary::SampleLibrary(SourcePtr source, Transformer tf, size_t performance_count)
    : source_(std::move(source)), tf_(std::move(tf)), name_("scaledl:" + source_->describe()) {
  const size_t total = static_cast<size_t>(source_->size());
  if (total == 0) throw Error("loadgen", source_->describe() + " holds no samples");
  if (performance_count > total)
    throw Error("loadgen", source_->describe() + " holds " + std::to_string(total) +
                               " samples, fewer than performance_sample_count " +
                               std::to_string(performance_count) +
                               "; lower --performance-sample-count or give more data");
  performance_count_ = performance_count ? performance_count : total;
  floats_ = tf_.row_bytes() / sizeof(float);
}

void SampleLibrary::LoadSamplesToRam(const std::vector<mlperf::QuerySampleIndex>& samples) {
  Record r;
  std::vector<uint8_t> scratch_bytes;
  TransformScratch scratch;
  for (mlperf::QuerySampleIndex i : samples) {
    if (ram_.count(i)) continue;
    source_->read(static_cast<int64_t>(i), r, scratch_bytes);
    std::vector<float> v(floats_);
    tf_.apply(r, 0, v.data(), scratch, source_->where(static_cast<int64_t>(i)));
    ram_.emplace(i, std::move(v));
    ++decoded_;
  }
}

void SampleLibrary::UnloadSamplesFromRam(const std::vector<mlperf::QuerySampleIndex>& samples) {
  for (mlperf::QuerySampleIndex i : samples) ram_.erase(i);
}

const float* SampleLibrary::sample(mlperf::QuerySampleIndex i) const {
  auto it = ram_.find(i);
  if (it == ram_.end())
    throw Error("loadgen", "sample " + std::to_string(i) + " was queried but not loaded");
  return it->second.data();
}

int32_t SampleLibrary::label(mlperf::QuerySampleIndex i) const {
  return source_->label(static_cast<int64_t>(i));
}

}  // namespace scaledl::lg
