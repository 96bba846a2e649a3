// Element types a Tensor can hold, with their sizes and names.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace scaledl {

enum class DType : uint8_t { f32, f16, bf16, s8, u8, s32 };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
// Parses "f32", "f16", "bf16", "s8", "u8", "s32"; throws Error on anything else.
DType parse_dtype(std::string_view s);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<int8_t>() { return DType::s8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<int32_t>() { return DType::s32; }

}  // namespace scaledl
