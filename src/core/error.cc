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

void set_error_rank(int rank) { g_rank = rank; }
int error_rank() { return g_rank; }

void throw_check_failure(const char* lib, const char* call, const char* what, const char* file,
                         int line) {
  throw Error(lib, std::string(call) + " failed: " + what + " (" + file + ":" +
                       std::to_string(line) + ", rank " + std::to_string(error_rank()) + ")");
}

}  // namespace scaledl
