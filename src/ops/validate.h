// Each op's arguments, checked once before dispatch (ops.cc calls validate::<op> ahead of any
// backend): what every backend requires alike (shapes, ranks, layouts, parameters, which tensors
// share a dtype, one device for all). A backend checks only what is its own: the dtypes it runs
// and its device. Every op of the table has a validator; the build fails until a new one does.
#pragma once
#include "core/tensor.h"
#include "ops/params.h"

namespace scaledl::validate {

#define SDL_OP(ret, name, device, how, params, args) void name params;
#include "ops/op_table.inc"
#undef SDL_OP

}  // namespace scaledl::validate
