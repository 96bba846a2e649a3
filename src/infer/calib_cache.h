// The calibration cache: per-tensor int8 thresholds saved as JSON so that a model is calibrated
// once. The CLI's `--calib-cache FILE` is read and reused when it exists and matches the model
// (check_calib_cache); otherwise the engine calibrates (on --calib-data) and writes it.
//
//   {"format": "scaledl-calibration", "version": 1, "model": "resnet50",
//    "model_hash": "0123456789abcdef", "method": "entropy", "percentile": 99.99,
//    "images": 500, "source": "npy:/x.npy",
//    "tensors": {"layer1.0.conv1": {"threshold": 3.2, "max_abs": 9.1}, ...}}
//
// Floats are written as their shortest decimal that reads back to the same float.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "infer/calibrate.h"

namespace scaledl {

inline constexpr const char* kCalibCacheFormat = "scaledl-calibration";
inline constexpr int kCalibCacheVersion = 1;

struct TensorCalib {
  float threshold = 0;  // the clipping threshold T (scale 127 / T for s8, 255 / T for u8)
  float max_abs = 0;    // the largest |x| seen
};

struct CalibCache {
  std::string model;       // the model's name, for messages
  std::string model_hash;  // 16 lowercase hex digits, computed by the engine
  CalibMethod method = CalibMethod::entropy;
  double percentile = 99.99;  // used by CalibMethod::percentile
  int64_t images = 0;         // calibration inputs seen
  std::string source;         // where they came from, e.g. "npy:/x.npy"
  std::map<std::string, TensorCalib> tensors;
};

// Writes the cache atomically (a reader sees the old file or the new one). Error("io") on failure;
// a model_hash that is not 16 lowercase hex digits or a negative or non-finite float is a bug.
void write_calib_cache(const std::string& path, const CalibCache& cache);
// Reads a cache; a missing, unreadable or malformed file throws Error("calibration") naming the
// path, what is wrong and what to do.
CalibCache read_calib_cache(const std::string& path);
// Throws Error("calibration") unless the cache was made for this model (model_hash) and holds a
// threshold for every name in tensor_names (extra tensors are ignored). The cache's method is
// not checked: a cache is reused whatever --calib-method says.
void check_calib_cache(const CalibCache& cache, const std::string& path,
                       const std::string& model_hash, const std::vector<std::string>& tensor_names);

}  // namespace scaledl
