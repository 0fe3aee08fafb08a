// Every way a file can be malformed gets a clear kiln::Error: it names the file, what is wrong and
// what was expected. One test per kind of damage.
#include <gtest/gtest.h>

#include <chrono>

#include "core/error.h"
#include "core/io/safetensors.h"
#include "tests/io/io_test_util.h"

namespace kiln::io {
namespace {

using test::raw_safetensors;

// Parses in memory (the file is the whole buffer) and returns the error message, or "" if none.
std::string parse_error(const std::vector<uint8_t>& bytes, const ParseLimits& limits = {}) {
  try {
    parse_safetensors_header(bytes.data(), bytes.size(), bytes.size(), "mem.safetensors", limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string header_error(const std::string& header, size_t data_bytes) {
  return parse_error(raw_safetensors(header, data_bytes));
}

#define EXPECT_MSG(msg, part)                                                                \
  do {                                                                                       \
    const std::string m_ = (msg);                                                            \
    EXPECT_NE(m_.find(part), std::string::npos) << "message: '" << m_ << "'";                \
    EXPECT_EQ(m_.rfind("mem.safetensors: ", 0), 0u) << "must start with the origin: " << m_; \
  } while (0)

const char* kGood = R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

TEST(SafetensorsReject, ValidBaselineParses) {
  EXPECT_EQ(header_error(kGood, 24), "");
  // Trailing spaces are allowed padding; so is a __metadata__ block anywhere.
  EXPECT_EQ(header_error(std::string(kGood) + "     ", 24), "");
  EXPECT_EQ(
      header_error(
          R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":{"k":"v"}})", 1),
      "");
}

TEST(SafetensorsReject, EmptyFile) {
  test::TempDir dir;
  test::write_file(dir.file("empty.safetensors"), {});
  try {
    SafetensorsFile::open(dir.file("empty.safetensors"));
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(dir.file("empty.safetensors")), std::string::npos) << m;
    EXPECT_NE(m.find("file is empty"), std::string::npos) << m;
  }
}

TEST(SafetensorsReject, MissingFileNamesThePath) {
  try {
    SafetensorsFile::open("/nonexistent/dir/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.safetensors: cannot open"),
              std::string::npos)
        << e.what();
  }
}

TEST(SafetensorsReject, DirectoryIsNotAFile) {
  test::TempDir dir;
  try {
    SafetensorsFile::open(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsReject, TooShortForTheLengthPrefix) {
  EXPECT_MSG(parse_error({1, 0, 0}), "only 3 bytes: too short for the 8-byte header length");
}

TEST(SafetensorsReject, TruncatedData) {
  auto bytes = raw_safetensors(kGood, 24);
  bytes.resize(bytes.size() - 5);
  EXPECT_MSG(parse_error(bytes), "run past the end of the data section (19 bytes)");
}

TEST(SafetensorsReject, TruncatedHeader) {
  auto bytes = raw_safetensors(kGood, 0);
  bytes.resize(20);
  EXPECT_MSG(parse_error(bytes), "header length 57 runs past the end of the file (20 bytes)");
}

TEST(SafetensorsReject, HeaderLengthAboveTheCap) {
  auto bytes = test::le64(200'000'000);
  bytes.resize(64, ' ');
  EXPECT_MSG(parse_error(bytes), "header length 200000000 exceeds the limit of 100000000 bytes");
  // The cap is configurable and applies even when the file is big enough.
  ParseLimits small;
  small.max_header_bytes = 16;
  EXPECT_MSG(parse_error(raw_safetensors(kGood, 24), small), "exceeds the limit of 16 bytes");
  // A length with the top bit set must not wrap around in 8 + N.
  auto huge = test::le64(~uint64_t{0});
  huge.resize(64, ' ');
  EXPECT_MSG(parse_error(huge), "exceeds the limit");
}

TEST(SafetensorsReject, HeaderTooShortForJson) {
  EXPECT_MSG(parse_error(raw_safetensors("", 0)), "header length is 0");
  EXPECT_MSG(parse_error(raw_safetensors("{", 0)), "header length is 1");
}

TEST(SafetensorsReject, InvalidJson) {
  EXPECT_MSG(header_error(R"({"a":{"dtype":"F32",)", 0), "invalid JSON near byte");
  EXPECT_MSG(header_error(R"({"a" 1})", 0), "invalid JSON");
  EXPECT_MSG(header_error(R"({} trailing)", 0), "invalid JSON");
  EXPECT_MSG(header_error(std::string("{}\0\0", 4), 0), "invalid JSON");  // NUL is not padding
  EXPECT_MSG(header_error("{\"a\xff\":{}}", 0), "invalid JSON");          // not UTF-8
  EXPECT_MSG(header_error(R"({/*c*/})", 0), "invalid JSON");              // no comments
}

TEST(SafetensorsReject, NonObjectHeader) {
  EXPECT_MSG(header_error("[1,2]", 0), "the header must start with '{' (a JSON object), got '['");
  EXPECT_MSG(header_error("\"{}\"", 0), "must start with '{'");
  EXPECT_MSG(header_error(std::string("\x89PNG", 4), 0), "got byte 137");
}

TEST(SafetensorsReject, UnknownDType) {
  EXPECT_MSG(header_error(R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4),
             "tensor 'a' field 'dtype': unknown dtype 'F33' (expected one of BOOL");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4),
             "unknown dtype 'f32'");
}

TEST(SafetensorsReject, ShapeDoesNotMatchOffsets) {
  EXPECT_MSG(
      header_error(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20),
      "tensor 'a': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20 bytes");
}

TEST(SafetensorsReject, ShapeProductOverflow) {
  // 2^62 * 2^62 overflows 64 bits; the wrapped product must not be mistaken for a small one.
  EXPECT_MSG(
      header_error(
          R"({"a":{"dtype":"U8","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,0]}})",
          0),
      "has more elements than fit in 64 bits");
  // 2^32 * 2^32 = 2^64 wraps to exactly 0.
  EXPECT_MSG(header_error(
                 R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
             "more elements than fit in 64 bits");
  // Elements fit, bytes do not: 2^62 F32 elements.
  EXPECT_MSG(header_error(
                 R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
             "needs more bytes than fit in 64 bits");
  // A zero dimension makes any shape empty, as in the reference implementation.
  EXPECT_EQ(
      header_error(
          R"({"a":{"dtype":"F32","shape":[0,4611686018427387904,8],"data_offsets":[0,0]}})", 0),
      "");
}

TEST(SafetensorsReject, DimensionTooLarge) {
  EXPECT_MSG(
      header_error(R"({"a":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0]}})", 0),
      "dimension 9223372036854775808 is too large");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1e3],"data_offsets":[0,0]}})", 0),
             "non-integer number '1e3'");
  EXPECT_MSG(header_error(
                 R"({"a":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,0]}})", 0),
             "non-integer number");
}

TEST(SafetensorsReject, TooManyDimensions) {
  std::string shape;
  for (int i = 0; i < 65; ++i) shape += i ? ",1" : "1";
  EXPECT_MSG(
      header_error(R"({"a":{"dtype":"U8","shape":[)" + shape + R"(],"data_offsets":[0,1]}})", 1),
      "tensor 'a' shape has more than 64 dimensions");
}

TEST(SafetensorsReject, TooManyEntries) {
  ParseLimits limits;
  limits.max_entries = 3;
  const std::string three =
      R"({"__metadata__":{"a":"","b":""},"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})";
  const std::string four =
      R"({"__metadata__":{"a":"","b":"","c":""},"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})";
  EXPECT_EQ(parse_error(raw_safetensors(three, 0), limits), "");
  EXPECT_MSG(parse_error(raw_safetensors(four, 0), limits),
             "more than 3 tensors and metadata keys");
  EXPECT_EQ(ParseLimits{}.max_entries, 1'000'000u);
}

TEST(SafetensorsReject, OffsetsOutOfRange) {
  EXPECT_MSG(header_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})", 8),
             "data_offsets [16, 24] run past the end of the data section (8 bytes)");
  EXPECT_MSG(header_error(
                 R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,7]}})", 8),
             "end before they begin");
  EXPECT_MSG(header_error(
                 R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[18446744073709551615,1]}})", 1),
             "end before they begin");
}

TEST(SafetensorsReject, OverlappingTensors) {
  EXPECT_MSG(
      header_error(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          12),
      "tensors 'a' and 'b' overlap: bytes [4, 8)");
  // Same region twice.
  EXPECT_MSG(
      header_error(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
          8),
      "overlap");
}

TEST(SafetensorsReject, GapsAndTrailingBytes) {
  EXPECT_MSG(
      header_error(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
          12),
      "gap in the data section: bytes [4, 8) before tensor 'b'");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
             "gap in the data section: bytes [0, 4)");
  EXPECT_MSG(header_error(kGood, 30),
             "the data section has 30 bytes but tensors cover only the first 24");
  EXPECT_MSG(header_error("{}", 1), "has 1 bytes but tensors cover only the first 0");
}

TEST(SafetensorsReject, DuplicateNames) {
  EXPECT_MSG(
      header_error(
          R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
          2),
      "duplicate entry 'a' (tensor names must be unique)");
  EXPECT_MSG(header_error(R"({"__metadata__":{},"__metadata__":{}})", 0),
             "duplicate entry '__metadata__'");
  EXPECT_MSG(header_error(R"({"__metadata__":{"k":"1","k":"2"}})", 0),
             "duplicate __metadata__ key 'k'");
  EXPECT_MSG(
      header_error(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1),
      "tensor 'a': duplicate field 'dtype'");
}

TEST(SafetensorsReject, NestingBombIsRejectedQuicklyWithoutRecursion) {
  // 4 million nested arrays where a shape is expected, then the same at the top level and in
  // metadata. A recursive parser would overflow the stack; ours stops at the first '['.
  const std::string deep(4'000'000, '[');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":)" + deep, 0),
             "tensor 'a' shape must hold non-negative integers, got an array");
  EXPECT_MSG(header_error(R"({"a":)" + deep, 0),
             "tensor 'a' must be an object with dtype, shape and data_offsets, got an array");
  EXPECT_MSG(header_error(R"({"__metadata__":{"k":)" + deep, 0),
             "__metadata__ key 'k': value must be a string, got an array");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":)" + deep, 1),
             "unknown field 'x'");
  std::string objects = "{";
  for (int i = 0; i < 1'000'000; ++i) objects += "\"a\":{";
  EXPECT_MSG(header_error(objects, 0), "unknown field 'a'");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(SafetensorsReject, MissingFields) {
  EXPECT_MSG(header_error(R"({"a":{"shape":[1],"data_offsets":[0,1]}})", 1),
             "tensor 'a': missing field 'dtype'");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", 1),
             "tensor 'a': missing field 'shape'");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1]}})", 1),
             "tensor 'a': missing field 'data_offsets'");
  EXPECT_MSG(header_error(R"({"a":{}})", 0), "missing field 'dtype'");
}

TEST(SafetensorsReject, WrongFieldTypes) {
  EXPECT_MSG(header_error(R"({"a":{"dtype":5,"shape":[1],"data_offsets":[0,1]}})", 1),
             "tensor 'a' field 'dtype' must be a string, got a number");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})", 1),
             "tensor 'a' field 'shape' must be an array of non-negative integers, got a string");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":{"b":0}}})", 1),
             "field 'data_offsets' must be an array of non-negative integers, got an object");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[true],"data_offsets":[0,1]}})", 1),
             "tensor 'a' shape must hold non-negative integers, got a boolean");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,null]}})", 1),
             "tensor 'a' data_offsets must hold non-negative integers, got null");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}})", 1),
             "non-integer number '1.0'");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1),
             "data_offsets must be [begin, end], got 1 values");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", 1),
             "data_offsets must be [begin, end], got more than 2 values");
  EXPECT_MSG(header_error(R"({"a":[1]})", 0),
             "tensor 'a' must be an object with dtype, shape and data_offsets, got an array");
  EXPECT_MSG(header_error(R"({"a":"x"})", 0), "got a string");
  EXPECT_MSG(header_error(R"({"__metadata__":[]})", 0),
             "__metadata__ must be an object of string values, got an array");
  EXPECT_MSG(header_error(R"({"__metadata__":{"n":1}})", 0),
             "__metadata__ key 'n': value must be a string, got a number");
  EXPECT_MSG(header_error(R"({"__metadata__":{"n":{}}})", 0),
             "value must be a string, got an object");
}

TEST(SafetensorsReject, NegativeDimensionsAndOffsets) {
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1),
             "tensor 'a' shape must hold non-negative integers, got -1");
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1),
             "tensor 'a' data_offsets must hold non-negative integers, got -1");
}

TEST(SafetensorsReject, UnknownFieldInATensor) {
  EXPECT_MSG(header_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"offset":0}})", 1),
             "tensor 'a': unknown field 'offset' (expected only dtype, shape, data_offsets)");
}

TEST(SafetensorsReject, HostileNamesAreEscapedInMessages) {
  const std::string m =
      header_error(R"({"a\u001b[2J":{"dtype":"X","shape":[1],"data_offsets":[0,1]}})", 1);
  EXPECT_MSG(m, "tensor 'a\\x1b[2J'");
  EXPECT_EQ(m.find('\x1b'), std::string::npos);
  const std::string long_name(100000, 'n');
  const std::string m2 = header_error(R"({")" + long_name + R"(":{"dtype":"X"}})", 0);
  EXPECT_MSG(m2, "(100000 bytes)");
  EXPECT_LT(m2.size(), 1000u);
}

TEST(SafetensorsReject, PrefixBufferParsesHeaderWithoutData) {
  // Given only the first 8 + N bytes of a larger file, the header still validates against the
  // full file size, and entries have no data pointer.
  const auto bytes = raw_safetensors(kGood, 24);
  const size_t prefix = bytes.size() - 24;
  const auto h = parse_safetensors_header(bytes.data(), prefix, bytes.size(), "mem");
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].data, nullptr);
  EXPECT_THROW(parse_safetensors_header(bytes.data(), 12, bytes.size(), "mem"), Error);
}

}  // namespace
}  // namespace kiln::io
