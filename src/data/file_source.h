// SampleSources over image files: an ImageFolder tree (one subfolder per class) or a CSV list
// (path,label). Each sample is one JPEG file, read whole; its key is its path relative to the
// folder (or as written in the CSV).
#pragma once
#include <string>
#include <vector>

#include "data/sample_source.h"

namespace scaledl {

// DIR/<class>/<file>: classes are the subfolders in name order; files with a .jpg/.jpeg
// extension (any case) in name order. Throws Error naming DIR when it holds no class folders
// or no images.
SourcePtr folder_source(const std::string& dir);

// FILE lines "path,label" (a first line "path,label" is a header and skipped; relative paths are
// relative to FILE's folder; labels are integers >= 0). Throws Error naming FILE and the line
// number on a malformed line.
SourcePtr csv_source(const std::string& file);

}  // namespace scaledl
