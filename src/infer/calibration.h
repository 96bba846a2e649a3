// Calibration of an int8 engine: the fp32 engine of the same graph runs the calibration inputs,
// every tensor's |x| goes into a histogram, and each histogram gives its threshold (entropy,
// percentile or max). The model hash ties a calibration cache to the graph and weights it
// was made from.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "graph/graph.h"
#include "infer/calib_cache.h"
#include "infer/engine.h"

namespace scaledl::infer {

// 16 hex digits (FNV-1a) over the graph's structure (names, kinds, inputs, shapes) and values.
std::string model_hash(const Graph& g);

struct CalibOptions {
  CalibMethod method = CalibMethod::entropy;
  double percentile = 99.99;
  int64_t batch = 32;
  std::string source;  // for the cache: where the inputs came from
};

// Fills `x` (f32 nchw [n, ...], n <= options.batch) with the next calibration inputs; false when
// there are no more.
using BatchSource = std::function<bool(Tensor& x)>;

// Calibrates `g` (with values) over every batch `next` gives; returns the cache (thresholds for
// "input" and every node output after the inference passes). Throws Error when no input came.
CalibCache calibrate(const Graph& g, const BatchSource& next, const CalibOptions& options);

// The tensors a calibration of `g` (with values, before the passes) covers.
std::vector<std::string> tensor_names(const Graph& g);

// The thresholds of a cache, for EngineOptions.
Thresholds thresholds_of(const CalibCache& cache);

}  // namespace scaledl::infer
