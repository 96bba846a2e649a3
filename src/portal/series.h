// A run's curves for the live charts, read from its append-only logs: loss and images/s per
// logged step (steps.jsonl), top-1 per evaluation (evals.jsonl), and the system monitor's
// samples (monitor.jsonl: CPU %, RSS MB, disk and network MB/s). A poll passes back the cursor
// of the last answer and gets only the points written since; a half-written last line waits
// for the next poll.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace scaledl::portal {

// Byte offsets already read in steps.jsonl, evals.jsonl and monitor.jsonl; as text "S.E.M".
struct SeriesCursor {
  size_t steps = 0, evals = 0, monitor = 0;
  std::string str() const;
};
// "" is the start; nullopt for anything but three decimal offsets joined by '.'.
std::optional<SeriesCursor> parse_cursor(std::string_view s);

// The points after `since` in the run folder `dir_fd`, at most `max_bytes` of each file per
// call: {"since", "next" (cursor text), "reset" (a log was shorter than the cursor: start again),
// "loss": [[step, loss]...], "ips": [[step, images/s]...], "top1": [[step, top1]...],
// "monitor": {"cpu", "rss", "disk_read", "disk_write", "net_rx", "net_tx": [[unix time, v]...]}}.
nlohmann::json read_series(int dir_fd, const SeriesCursor& since, size_t max_bytes = 4u << 20);

}  // namespace scaledl::portal
