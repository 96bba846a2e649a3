// Record sets: a folder of record shards described by manifest.json (docs/record-format.md).
// pack_records writes one from any SampleSource; open_records reads one back as a SampleSource.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "data/sample_source.h"

namespace scaledl {

inline constexpr int kRecordSetVersion = 1;

struct PackOptions {
  uint64_t shard_bytes = 64ull << 20;  // a shard is cut once its samples' stored bytes reach this
  int threads = 0;                     // 0 = std::thread::hardware_concurrency()
  std::string prefix = "shard";        // shard files are "<prefix>-00000.rec", ...
  bool progress = true;                // log_progress every ~0.5 s
};

// Packs every sample of `src`, unchanged and in order, into shards of contiguous index ranges in
// `dst_dir` (absent or empty), then writes manifest.json last. Returns the manifest. On failure
// no manifest is written and the first error is rethrown.
nlohmann::json pack_records(const SampleSource& src, const std::string& dst_dir,
                            const PackOptions& options = {});

// Opens a folder made by pack_records. Sample i is global record i across the shards in manifest
// order.
SourcePtr open_records(const std::string& dir);

// Checks every shard's size and whole-file CRC32C against the manifest (and, with `deep`, parses
// every record); throws Error naming the first bad shard. Returns the number of shards checked.
int64_t verify_records(const std::string& dir, bool deep = false);

// The manifest.json of `dir`, validated (format, version, fields); throws Error naming the file.
nlohmann::json read_manifest(const std::string& dir);

}  // namespace scaledl
