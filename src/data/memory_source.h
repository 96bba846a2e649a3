// A SampleSource over an ImageSet held in memory (IDX files, synthetic data): raw u8 samples.
#pragma once
#include <string>

#include "data/image_set.h"
#include "data/sample_source.h"

namespace scaledl {

// Keys are "<prefix>/<index, 6 digits>" (e.g. "train/000042"); `name` goes into describe().
SourcePtr memory_source(ImageSet set, std::string prefix, std::string name);

}  // namespace scaledl
