// DType sizes and names.
#include "core/dtype.h"

#include <string>

#include "core/error.h"

namespace scaledl {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::bf16: return 2;
    case DType::s8: return 1;
    case DType::u8: return 1;
    case DType::s32: return 4;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::s8: return "s8";
    case DType::u8: return "u8";
    case DType::s32: return "s32";
  }
  return "?";
}

DType parse_dtype(std::string_view s) {
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::s8, DType::u8, DType::s32})
    if (dtype_name(t) == s) return t;
  throw Error("dtype", "unknown dtype '" + std::string(s) + "'; use f32, f16, bf16, s8, u8 or s32");
}

}  // namespace scaledl
