// The Chrome trace-event JSON file (opens in Perfetto, ui.perfetto.dev, and chrome://tracing):
// {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}.
#pragma once
#include <cstdint>
#include <string>

#include "core/trace.h"

namespace scaledl {

// Writes `data` to `path` atomically as one process `pid` (the rank) named `process_name`: a
// track per thread (thread_name and thread_sort_index metadata, "ph":"M"), a complete event
// ("ph":"X") per span with its category and args. ts and dur are integer microseconds since
// the Unix epoch (steady-clock times anchored to the system clock when tracing started, so
// files written by several ranks line up); span boundaries are rounded down, which keeps
// nested spans nested. Events of a track are ordered by start, a parent before its children.
void write_trace_json(const std::string& path, const TraceData& data, int pid,
                      const std::string& process_name);

}  // namespace scaledl
