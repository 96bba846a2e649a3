// DataCorrupt: an Error raised for one bad sample (a record whose CRC does not match, a truncated
// record, an undecodable image). The loader may skip it under --skip-corrupt N; anything else
// (a missing file, a bad flag) stays a plain Error and always stops the run.
#pragma once
#include <string>

#include "core/error.h"

namespace scaledl {

class DataCorrupt : public Error {
 public:
  explicit DataCorrupt(const std::string& message) : Error("data", message) {}
};

}  // namespace scaledl
