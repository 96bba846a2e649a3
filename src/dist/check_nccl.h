// SDL_NCCL: runs an NCCL call and turns a failure into scaledl::Error naming the call, file:line
// and the rank. SDL_NCCL_ASYNC also accepts ncclInProgress (a non-blocking communicator's
// calls return it while the work is still being set up or enqueued).
#pragma once
#include <nccl.h>

#include <string>

#include "core/error.h"

namespace scaledl::detail {
[[noreturn]] inline void nccl_failure(const char* call, ncclResult_t rc, const char* file,
                                      int line) {
  std::string what = ncclGetErrorString(rc);
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && *last != '\0') what += std::string(" (") + last + ")";
  ::scaledl::throw_check_failure("NCCL", call, what.c_str(), file, line);
}
}  // namespace scaledl::detail

#define SDL_NCCL(call)                                                          \
  do {                                                                          \
    const ncclResult_t sdl_nccl_rc_ = (call);                                   \
    if (sdl_nccl_rc_ != ncclSuccess)                                            \
      ::scaledl::detail::nccl_failure(#call, sdl_nccl_rc_, __FILE__, __LINE__); \
  } while (0)

#define SDL_NCCL_ASYNC(call)                                                    \
  do {                                                                          \
    const ncclResult_t sdl_nccl_rc_ = (call);                                   \
    if (sdl_nccl_rc_ != ncclSuccess && sdl_nccl_rc_ != ncclInProgress)          \
      ::scaledl::detail::nccl_failure(#call, sdl_nccl_rc_, __FILE__, __LINE__); \
  } while (0)
