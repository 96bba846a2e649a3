// JSON-lines and whole-file JSON writers.
#include "telemetry/jsonl.h"

#include <cerrno>
#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"

namespace scaledl {

JsonlWriter::JsonlWriter(const std::string& path, bool append) : path_(path) {
  file_.reset(std::fopen(path.c_str(), append ? "a" : "w"));
  if (!file_)
    throw Error("telemetry", path + ": " + std::strerror(errno) +
                                 "; check that --run-dir exists and is writable");
}

void JsonlWriter::write(const nlohmann::json& record) {
  if (!file_) return;  // a writer that was never opened (a rank that does not log) drops it
  std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() ||
      std::fflush(file_.get()) != 0)
    throw Error("telemetry", path_ + ": write failed: " + std::strerror(errno));
}

void write_json_atomic(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace scaledl
