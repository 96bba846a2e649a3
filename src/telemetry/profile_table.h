// nvprof-style tables from Chrome trace files (scaledl train --trace): spans grouped by a key
// (a phase, a layer, an op kind, the allreduces) with Time(%), Time, Calls, Avg, Min, Max, Name.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scaledl {

struct ProfileRow {
  std::string name;
  int64_t calls = 0;
  double total_us = 0, min_us = 0, max_us = 0;
  double avg_us() const { return calls ? total_us / static_cast<double>(calls) : 0; }
};

// The "X" events of a trace file's traceEvents. Throws Error("profile") naming the file when it
// cannot be read or is not a trace.
std::vector<nlohmann::json> read_trace_spans(const std::string& path);

// Groups `spans` by key(span) (spans whose key is "" are left out), heaviest first.
std::vector<ProfileRow> profile_rows(const std::vector<nlohmann::json>& spans,
                                     const std::function<std::string(const nlohmann::json&)>& key);

// The table: a title line, the header, at most `top` rows (0: all); Time(%) of `total_us`
// (0: of the rows' sum). Times in s, ms or us as nvprof prints them.
std::string format_profile_table(const std::string& title, const std::vector<ProfileRow>& rows,
                                 double total_us = 0, size_t top = 0);

}  // namespace scaledl
