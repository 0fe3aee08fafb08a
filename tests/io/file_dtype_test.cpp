#include "core/io/file_dtype.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"

namespace kiln::io {
namespace {

TEST(FileDType, NamesSizesAndParsingAgreeForEveryDType) {
  const std::pair<const char*, size_t> expected[] = {
      {"BOOL", 1}, {"U8", 1},   {"I8", 1},  {"I16", 2},     {"U16", 2},
      {"F16", 2},  {"BF16", 2}, {"I32", 4}, {"U32", 4},     {"F32", 4},
      {"F64", 8},  {"I64", 8},  {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  ASSERT_EQ(std::size(kAllFileDTypes), std::size(expected));
  std::set<std::string> names;
  for (size_t i = 0; i < std::size(expected); ++i) {
    const FileDType t = kAllFileDTypes[i];
    EXPECT_EQ(static_cast<size_t>(t), i) << "kAllFileDTypes must follow the enum order";
    EXPECT_STREQ(file_dtype_name(t), expected[i].first);
    EXPECT_EQ(file_dtype_size(t), expected[i].second) << expected[i].first;
    ASSERT_TRUE(parse_file_dtype(expected[i].first).has_value());
    EXPECT_EQ(*parse_file_dtype(expected[i].first), t);
    names.insert(file_dtype_name(t));
  }
  EXPECT_EQ(names.size(), std::size(expected));
}

TEST(FileDType, ParsingIsExactAndCaseSensitive) {
  using namespace std::literals;
  for (std::string_view bad :
       {"f32"sv, "F33"sv, ""sv, "F32 "sv, "bool"sv, "FLOAT"sv, "F8_E4M3FN"sv, "BF16\0"sv}) {
    EXPECT_FALSE(parse_file_dtype(bad).has_value()) << bad;
  }
}

TEST(FileDType, MapsToKilnDTypesWhereTheyExist) {
  for (DType d : kAllDTypes) {
    const FileDType f = to_file_dtype(d);
    ASSERT_TRUE(to_kiln_dtype(f).has_value());
    EXPECT_EQ(*to_kiln_dtype(f), d);
    EXPECT_EQ(file_dtype_size(f), dtype_size(d)) << file_dtype_name(f);
    EXPECT_STREQ(file_dtype_name(f), dtype_safetensors_name(d));
  }
  for (FileDType f : {FileDType::BOOL, FileDType::I16, FileDType::U16, FileDType::U32,
                      FileDType::U64, FileDType::F8_E4M3, FileDType::F8_E5M2}) {
    EXPECT_FALSE(to_kiln_dtype(f).has_value()) << file_dtype_name(f);
  }
}

TEST(FileDType, InvalidEnumValueThrowsInsteadOfReadingPastTheTable) {
  EXPECT_THROW(file_dtype_size(static_cast<FileDType>(200)), Error);
}

}  // namespace
}  // namespace kiln::io
