// SDL_DNNL: runs a oneDNN C++ call and turns dnnl::error into scaledl::Error naming the call.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"

#define SDL_DNNL(call)                                                               \
  do {                                                                               \
    try {                                                                            \
      call;                                                                          \
    } catch (const dnnl::error& e_) {                                                \
      ::scaledl::throw_check_failure("oneDNN", #call, e_.what(), __FILE__, __LINE__); \
    }                                                                                \
  } while (0)
