// SDL_MPI: runs an MPI call and turns a failure code into scaledl::Error naming the call,
// file:line and the rank (the communicators scaledl makes return errors instead of aborting).
#pragma once
#include <mpi.h>

#include <string>

#include "core/error.h"

namespace scaledl::detail {
[[noreturn]] inline void mpi_failure(const char* call, int code, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  const std::string what = len > 0 ? std::string(text, len) : "error " + std::to_string(code);
  ::scaledl::throw_check_failure("MPI", call, what.c_str(), file, line);
}
}  // namespace scaledl::detail

#define SDL_MPI(call)                                                          \
  do {                                                                         \
    const int sdl_mpi_rc_ = (call);                                            \
    if (sdl_mpi_rc_ != MPI_SUCCESS)                                            \
      ::scaledl::detail::mpi_failure(#call, sdl_mpi_rc_, __FILE__, __LINE__); \
  } while (0)
