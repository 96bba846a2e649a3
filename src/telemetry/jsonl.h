// JsonlWriter: one JSON object per line (steps.jsonl, eval records), flushed as written so a
// crashed run keeps every line it logged.
#pragma once
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace scaledl {

// The schema version of the run records (summary.json, steps.jsonl, evals.jsonl, status.json,
// monitor.jsonl: each carries "schema"): raised when a key changes meaning or goes away, never
// for a key added.
constexpr int kRunRecordSchema = 1;

class JsonlWriter {
 public:
  JsonlWriter() = default;
  // Opens `path` for appending (a resumed run continues its log) or truncating.
  JsonlWriter(const std::string& path, bool append);
  // Appends one line; a default-constructed (never opened) writer ignores the record.
  void write(const nlohmann::json& record);
  bool is_open() const { return file_ != nullptr; }

 private:
  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Close> file_;
  std::string path_;
};

// Writes `j` to `path` atomically (temp file, fsync, rename), pretty-printed.
void write_json_atomic(const std::string& path, const nlohmann::json& j);

}  // namespace scaledl
