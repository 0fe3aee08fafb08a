// Run-time dtype -> compile-time type dispatch for kernels:
//   dispatch_floating(t.dtype(), "gelu", [&](auto tag) { using T = typename decltype(tag)::type;
//   ... });
// bf16/f16 are carried as 16-bit wrappers (Bf16, F16) converting through float.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace kiln {

struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

template <typename T>
struct TypeTag {
  using type = T;
};

// Loads/stores any element type as double (used by copies/casts and test accessors).
template <typename T>
inline double load_as_double(const void* p) {
  if constexpr (std::is_same_v<T, Bf16>)
    return bf16_to_f32(static_cast<const Bf16*>(p)->bits);
  else if constexpr (std::is_same_v<T, F16>)
    return f16_to_f32(static_cast<const F16*>(p)->bits);
  else
    return static_cast<double>(*static_cast<const T*>(p));
}
template <typename T>
inline void store_from_double(void* p, double v) {
  if constexpr (std::is_same_v<T, Bf16>)
    static_cast<Bf16*>(p)->bits = f32_to_bf16(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, F16>)
    static_cast<F16*>(p)->bits = f32_to_f16(static_cast<float>(v));
  else
    *static_cast<T*>(p) = static_cast<T>(v);
}

template <typename F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::F32:
      return f(TypeTag<float>{});
    case DType::F64:
      return f(TypeTag<double>{});
    case DType::BF16:
      return f(TypeTag<Bf16>{});
    case DType::F16:
      return f(TypeTag<F16>{});
    case DType::I8:
      return f(TypeTag<int8_t>{});
    case DType::U8:
      return f(TypeTag<uint8_t>{});
    case DType::I32:
      return f(TypeTag<int32_t>{});
    case DType::I64:
      return f(TypeTag<int64_t>{});
  }
  throw Error("unknown dtype");
}

// f32 and f64 only: the compute dtypes of kiln's CPU ops.
template <typename F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32:
      return f(TypeTag<float>{});
    case DType::F64:
      return f(TypeTag<double>{});
    default:
      throw Error(std::string(op) + ": expected an f32 or f64 tensor, got " + dtype_name(t) +
                  " (convert with .to(DType::F32) first)");
  }
}

// Integer index dtypes.
template <typename F>
decltype(auto) dispatch_index(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::I64:
      return f(TypeTag<int64_t>{});
    case DType::I32:
      return f(TypeTag<int32_t>{});
    case DType::U8:
      return f(TypeTag<uint8_t>{});
    default:
      throw Error(std::string(op) + ": expected an integer (i64, i32 or u8) tensor, got " +
                  dtype_name(t));
  }
}

}  // namespace kiln
