#include "core/io/file_dtype.h"

#include "core/error.h"

namespace kiln::io {

namespace {
struct Info {
  FileDType type;
  const char* name;
  size_t size;
};
// Indexed by the enum value; file_dtype_test checks the order matches.
constexpr Info kInfo[] = {
    {FileDType::BOOL, "BOOL", 1},       {FileDType::U8, "U8", 1},
    {FileDType::I8, "I8", 1},           {FileDType::I16, "I16", 2},
    {FileDType::U16, "U16", 2},         {FileDType::F16, "F16", 2},
    {FileDType::BF16, "BF16", 2},       {FileDType::I32, "I32", 4},
    {FileDType::U32, "U32", 4},         {FileDType::F32, "F32", 4},
    {FileDType::F64, "F64", 8},         {FileDType::I64, "I64", 8},
    {FileDType::U64, "U64", 8},         {FileDType::F8_E4M3, "F8_E4M3", 1},
    {FileDType::F8_E5M2, "F8_E5M2", 1},
};
constexpr size_t kCount = sizeof(kInfo) / sizeof(kInfo[0]);

const Info& info(FileDType t) {
  const auto i = static_cast<size_t>(t);
  KILN_CHECK(i < kCount, "invalid FileDType value ", i);
  return kInfo[i];
}
}  // namespace

size_t file_dtype_size(FileDType t) {
  return info(t).size;
}
const char* file_dtype_name(FileDType t) {
  return info(t).name;
}

std::optional<FileDType> parse_file_dtype(std::string_view s) {
  for (const auto& i : kInfo)
    if (s == i.name) return i.type;
  return std::nullopt;
}

std::optional<DType> to_kiln_dtype(FileDType t) {
  switch (t) {
    case FileDType::F32:
      return DType::F32;
    case FileDType::F64:
      return DType::F64;
    case FileDType::BF16:
      return DType::BF16;
    case FileDType::F16:
      return DType::F16;
    case FileDType::I8:
      return DType::I8;
    case FileDType::U8:
      return DType::U8;
    case FileDType::I32:
      return DType::I32;
    case FileDType::I64:
      return DType::I64;
    default:
      return std::nullopt;
  }
}

FileDType to_file_dtype(DType t) {
  switch (t) {
    case DType::F32:
      return FileDType::F32;
    case DType::F64:
      return FileDType::F64;
    case DType::BF16:
      return FileDType::BF16;
    case DType::F16:
      return FileDType::F16;
    case DType::I8:
      return FileDType::I8;
    case DType::U8:
      return FileDType::U8;
    case DType::I32:
      return FileDType::I32;
    case DType::I64:
      return FileDType::I64;
  }
  throw Error(detail::concat("invalid kiln::DType value ", static_cast<int>(t)));
}

}  // namespace kiln::io
