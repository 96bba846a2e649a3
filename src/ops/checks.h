// Argument checks shared by the validators run before dispatch (validate.h) and by every
// backend's kernels. Each throws Error(op, ...) naming the tensor and its Tensor::str(), so a
// shape or dtype mistake reads the same whichever backend caught it.
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace scaledl {

[[noreturn]] void fail(const char* op, const std::string& what);
// Throws Error(op, what) unless `ok`; `what` is built only then: the checks run on every op
// call, and a message names tensors through Tensor::str() (a few microseconds each).
#define SDL_REQUIRE(ok, op, what)             \
  do {                                        \
    if (!(ok)) ::scaledl::fail((op), (what)); \
  } while (0)
// t.str(), or "undefined".
std::string describe(const Tensor& t);
void require_defined(const char* op, const char* name, const Tensor& t);
// Defined and of `rank` dimensions (4: [N,C,H,W]), any dtype and device.
void require_rank(const char* op, const char* name, const Tensor& t, int rank);
// 1-D of c elements, any dtype.
void require_length(const char* op, const char* name, const Tensor& t, int64_t c);
// Defined, f32, on the cpu.
void require_f32(const char* op, const char* name, const Tensor& t);
// f32 or bf16, on the cpu (the kernels that take bf16 natively).
void require_float(const char* op, const char* name, const Tensor& t);
void require_shape(const char* op, const char* name, const Tensor& t, const Shape& want);
void require_same_layout(const char* op, const char* name, const Tensor& t, const Tensor& ref);
void require_same_dtype(const char* op, const char* name, const Tensor& t, const Tensor& ref);

}  // namespace scaledl
