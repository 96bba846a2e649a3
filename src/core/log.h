// Logging to stderr with a level; progress lines overwrite themselves on a terminal.
#pragma once
#include <string_view>

namespace scaledl {

enum class LogLevel { debug, info, warn, error, quiet };
void set_log_level(LogLevel level);
LogLevel log_level();
void log(LogLevel level, std::string_view message);
inline void log_info(std::string_view m) { log(LogLevel::info, m); }
inline void log_warn(std::string_view m) { log(LogLevel::warn, m); }
// A progress line: rewritten in place on a terminal, one line per call otherwise.
void log_progress(std::string_view line, bool final = false);

}  // namespace scaledl
