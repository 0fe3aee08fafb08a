// Element types kiln tensors can hold, their sizes and names, and scalar conversions for the
// 16-bit float formats (bf16 and IEEE f16) that have no native C++ type on the baseline ISA.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace kiln {

enum class DType : uint8_t { F32, F64, BF16, F16, I8, U8, I32, I64 };

inline constexpr DType kAllDTypes[] = {DType::F32, DType::F64, DType::BF16, DType::F16,
                                       DType::I8,  DType::U8,  DType::I32,  DType::I64};

size_t dtype_size(DType t);
// Lower-case short name: "f32", "bf16", "i64", ...
const char* dtype_name(DType t);
// Parses the short name ("f32") or the safetensors name ("F32"); nullopt if unknown.
std::optional<DType> parse_dtype(std::string_view s);
// The dtype string safetensors uses in its header ("F32", "BF16", "I64", ...).
const char* dtype_safetensors_name(DType t);
inline bool is_floating(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::BF16 || t == DType::F16;
}

// bf16: the top 16 bits of an f32. Rounds to nearest even; NaN stays NaN (quiet).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE 754 half precision, round to nearest even, with subnormals, infinities and NaN.
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

}  // namespace kiln
