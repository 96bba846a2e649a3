// scaledl::Error (a user's mistake, printed as one line by the CLI, exit code 2) and the
// check macros that turn library failures into errors naming the call, file:line and rank.
#pragma once
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace scaledl {

// A user-facing error: "[component] what, where, what to do".
class Error : public std::runtime_error {
 public:
  Error(std::string_view component, std::string_view message);
  const std::string& component() const { return component_; }
  const std::string& message() const { return message_; }  // without the "[component] "

 private:
  std::string component_, message_;
};

// Rank used in library-failure messages (set by dist/ once known; 0 before).
void set_error_rank(int rank);
int error_rank();

// The last thing done before the process ends its job on a fatal error that is not thrown (a
// collective that timed out ends every rank with MPI_Abort): the trainer marks its run failed
// there. `line` is the error line printed. One hook at a time; an empty one clears it.
void set_fatal_hook(std::function<void(const std::string& line)> hook);
void run_fatal_hook(const std::string& line) noexcept;

[[noreturn]] void throw_check_failure(const char* lib, const char* call, const char* what,
                                      const char* file, int line);

}  // namespace scaledl

// Internal invariant: a broken one is a bug in scaledl, not the user's fault.
#define SDL_ASSERT(cond, msg)                                                                 \
  do {                                                                                        \
    if (!(cond)) ::scaledl::throw_check_failure("scaledl", #cond, (msg), __FILE__, __LINE__); \
  } while (0)
