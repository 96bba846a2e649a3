// npy:FILE as a SampleSource: FILE holds float32 (or float64, read as float32) model inputs
// [N, C, H, W], read by index straight from the memory-mapped file (io/npy.h), so a set larger
// than RAM is fine. Labels come from FILE with ".labels.npy" in place of ".npy" (an integer array
// [N]: <i4, <i8 or |u1) when that file exists; without it the source is unlabeled (labeled()
// false, every label 0, one class), which open_data and open_eval_source refuse: there is
// nothing to train or score against.
#pragma once
#include <string>

#include "data/sample_source.h"

namespace scaledl {

// Opens FILE (and its labels file, if any); throws Error("npy", ...) or Error("data", ...) naming
// the file and what is wrong. Samples are Records of ImageEncoding::raw_f32 (CHW).
SourcePtr npy_source(const std::string& path);

// FILE with ".labels.npy" in place of a trailing ".npy" (appended when FILE has no ".npy").
std::string npy_labels_path(const std::string& path);

}  // namespace scaledl
