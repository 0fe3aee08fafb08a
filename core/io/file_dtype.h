// The element types a safetensors file can declare. This is wider than kiln::DType: a file written
// by another tool may hold BOOL, U16, F8_E4M3, ... which kiln can list and copy but not compute
// with, so the file's own dtype is kept as-is and mapped to kiln::DType only where one exists.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "core/dtype.h"

namespace kiln::io {

enum class FileDType : uint8_t {
  BOOL,
  U8,
  I8,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  F64,
  I64,
  U64,
  F8_E4M3,
  F8_E5M2,
};

inline constexpr FileDType kAllFileDTypes[] = {
    FileDType::BOOL, FileDType::U8,   FileDType::I8,  FileDType::I16,     FileDType::U16,
    FileDType::F16,  FileDType::BF16, FileDType::I32, FileDType::U32,     FileDType::F32,
    FileDType::F64,  FileDType::I64,  FileDType::U64, FileDType::F8_E4M3, FileDType::F8_E5M2};

// Bytes per element (BOOL is one byte per element in safetensors).
size_t file_dtype_size(FileDType t);
// The exact string used in the header: "F32", "BOOL", "F8_E4M3", ...
const char* file_dtype_name(FileDType t);
// Case-sensitive, as the format is: "f32" is not a safetensors dtype.
std::optional<FileDType> parse_file_dtype(std::string_view s);
// kiln's compute dtype with the same bit layout, if kiln has one.
std::optional<DType> to_kiln_dtype(FileDType t);
FileDType to_file_dtype(DType t);

}  // namespace kiln::io
