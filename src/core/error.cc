// Error type and the shared failure path of the check macros.
#include "core/error.h"

#include <atomic>
#include <string>

namespace scaledl {

namespace {
std::atomic<int> g_rank{0};
}

namespace {
std::string format_error(std::string_view component, std::string_view message) {
  std::string s;
  s.reserve(component.size() + message.size() + 3);
  s.append("[").append(component).append("] ").append(message);
  return s;
}
}  // namespace

Error::Error(std::string_view component, std::string_view message)
    : std::runtime_error(format_error(component, message)),
      component_(component),
      message_(message) {}

void set_error_rank(int rank) {
  g_rank = rank;
}

namespace {
std::function<void(const std::string&)>& fatal_hook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}
}  // namespace

void set_fatal_hook(std::function<void(const std::string&)> hook) {
  fatal_hook() = std::move(hook);
}

void run_fatal_hook(const std::string& line) noexcept {
  try {
    if (fatal_hook()) fatal_hook()(line);
  } catch (...) {
    // The job ends either way; the hook's failure must not stop that.
  }
}
int error_rank() {
  return g_rank;
}

void throw_check_failure(const char* lib, const char* call, const char* what, const char* file,
                         int line) {
  throw Error(lib, std::string(call) + " failed: " + what + " (" + file + ":" +
                       std::to_string(line) + ", rank " + std::to_string(error_rank()) + ")");
}

}  // namespace scaledl
