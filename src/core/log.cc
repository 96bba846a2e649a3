// Logging to stderr.
#include "core/log.h"

#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <string>

namespace scaledl {

namespace {
LogLevel g_level = LogLevel::info;
std::mutex g_mu;
bool g_progress_open = false;
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log(LogLevel level, std::string_view message) {
  if (level < g_level) return;
  static const char* kNames[] = {"debug", "info", "warn", "error", ""};
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_progress_open) std::fputc('\n', stderr), g_progress_open = false;
  std::fprintf(stderr, "scaledl %s: %.*s\n", kNames[static_cast<int>(level)],
               static_cast<int>(message.size()), message.data());
}

void log_progress(std::string_view line, bool final) {
  if (g_level > LogLevel::info) return;
  std::lock_guard<std::mutex> lock(g_mu);
  static const bool tty = isatty(fileno(stderr));
  if (tty) {
    std::fprintf(stderr, "\r\033[K%.*s", static_cast<int>(line.size()), line.data());
    g_progress_open = !final;
    if (final) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  }
  std::fflush(stderr);
}

}  // namespace scaledl
