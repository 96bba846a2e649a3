// Data source specs (--data records:DIR | folder:DIR | csv:FILE | idx:DIR | npy:FILE |
// synthetic[:N])
// resolved into a training and (when there is one) a test SampleSource.
#pragma once
#include <string>

#include "data/sample_source.h"

namespace scaledl {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct DataSpec {
  std::string kind;  // "records", "folder", "csv", "idx", "npy" or "synthetic"
  std::string path;  // the folder or file
  int64_t synthetic_train = 0, synthetic_test = 0;
  std::string str() const;  // back to the spec string
};

// Parses a --data value; throws Error naming `flag` on anything else.
DataSpec parse_data_spec(const std::string& s, const std::string& flag = "--data");

struct DataSplits {
  SourcePtr train, test;  // test is null when the source has no held-out split
};

// Opens both splits. records:DIR and folder:DIR take DIR/train and DIR/val (or DIR/test) when
// DIR/train exists, else DIR as the training split alone; csv:FILE is a training split; idx:DIR
// has both. npy:FILE (data/npy_source.h) is a training split and must have labels. Synthetic
// sets are image_size x image_size x 3 with 10 classes.
DataSplits open_data(const DataSpec& spec, int64_t image_size, uint64_t seed);

// One split by name ("train" or "test"); throws Error when the source has no such split.
// npy:FILE is both splits, with or without labels (for plans, benchmarks, calibration).
SourcePtr open_split(const DataSpec& spec, const std::string& split, int64_t image_size,
                     uint64_t seed);

// The source a user named for evaluation (--eval-data, `scaledl eval --data`): the test split of
// idx and synthetic sources and of records/folder trees with DIR/train; otherwise DIR (or the
// CSV list, the npy file, which must have labels) itself is the evaluation set.
SourcePtr open_eval_source(const DataSpec& spec, int64_t image_size, uint64_t seed);

}  // namespace scaledl
