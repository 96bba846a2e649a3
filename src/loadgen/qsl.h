// The QuerySampleLibrary LoadGen draws from: any data source, each sample decoded and
// preprocessed (the model's size and normalization, NCHW float) into RAM when LoadGen asks
// (LoadSamplesToRam) and dropped when it says (UnloadSamplesFromRam). Labels are kept for
// accuracy mode.
//
// Threading (LoadGen's contract): Load/Unload are called by LoadGen's thread between test phases,
// never while queries run; sample() is then read by the SUT's workers concurrently, which is
// safe because nothing changes the map while a test runs.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <mlperf_loadgen/query_sample_library.h>

#include "data/source.h"
#include "data/transform.h"

namespace scaledl::lg {

class SampleLibrary : public mlperf::QuerySampleLibrary {
 public:
  // `source`: the samples; `tf`: their eval transform (its output: f32 NCHW, one sample);
  // `performance_count`: samples LoadGen keeps in RAM in performance mode (0: all, capped at
  // the source's size). Throws Error when the source holds fewer samples than that.
  SampleLibrary(SourcePtr source, Transformer tf, size_t performance_count);

  const std::string& Name() override { return name_; }
  size_t TotalSampleCount() override { return static_cast<size_t>(source_->size()); }
  size_t PerformanceSampleCount() override { return performance_count_; }
  void LoadSamplesToRam(const std::vector<mlperf::QuerySampleIndex>& samples) override;
  void UnloadSamplesFromRam(const std::vector<mlperf::QuerySampleIndex>& samples) override;

  // A loaded sample's values (sample_floats() of them); throws Error if it is not loaded.
  const float* sample(mlperf::QuerySampleIndex i) const;
  size_t sample_floats() const { return floats_; }
  int32_t label(mlperf::QuerySampleIndex i) const;
  size_t loaded() const { return ram_.size(); }
  // Samples decoded so far (a sample loaded twice counts twice).
  uint64_t decoded() const { return decoded_; }

 private:
  SourcePtr source_;
  Transformer tf_;
  std::string name_;
  size_t performance_count_ = 0, floats_ = 0;
  std::unordered_map<size_t, std::vector<float>> ram_;
  uint64_t decoded_ = 0;
};

}  // namespace scaledl::lg
