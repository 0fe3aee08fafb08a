// Writer -> reader round trips: every dtype, metadata, layout guarantees, and writer validation.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/io/safetensors.h"
#include "tests/io/io_test_util.h"

namespace kiln::io {
namespace {

using test::TempDir;

// Deterministic, distinct bytes per tensor so a swapped or shifted region is caught.
std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed * 31 + i * 13 + (i >> 8));
  return v;
}

struct Owned {
  std::vector<TensorToWrite> tensors;
  std::vector<std::vector<uint8_t>> buffers;
  void add(std::string name, FileDType dt, std::vector<int64_t> shape) {
    int64_t numel = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
    buffers.push_back(pattern(static_cast<size_t>(numel) * file_dtype_size(dt),
                              static_cast<uint8_t>(buffers.size() + 1)));
    tensors.push_back(
        {std::move(name), dt, std::move(shape), buffers.back().data(), buffers.back().size()});
    // Buffers may move when the vector grows; refresh every pointer.
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i].data = buffers[i].data();
  }
};

TEST(SafetensorsRoundTrip, EveryDTypeWithMetadata) {
  Owned o;
  // Deliberately mixed element sizes (1, 8, 2, 4, ...) so the writer's reordering is exercised,
  // with odd element counts so a 1- or 2-byte tensor leaves the running offset unaligned.
  int k = 0;
  for (FileDType dt : kAllFileDTypes)
    o.add(std::string("t.") + file_dtype_name(dt), dt, {3, 1 + (k++ % 5)});
  o.add("scalar", FileDType::F32, {});
  o.add("empty", FileDType::F64, {0, 7});
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"config", "{\"hidden_size\": 32}"}, {"unicode", "caf\xc3\xa9\n\"q\""}};

  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  write_safetensors(path, o.tensors, meta);
  const auto f = SafetensorsFile::open(path);

  EXPECT_EQ(f.metadata(), meta);
  ASSERT_EQ(f.entries().size(), o.tensors.size());
  const auto& h = f.header();
  EXPECT_EQ(h.data_offset % kSafetensorsDataAlignment, 0u) << "data section must start aligned";
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.mapping()->data() + h.data_offset) % 64, 0u);
  for (size_t i = 0; i < o.tensors.size(); ++i) {
    const auto& want = o.tensors[i];
    const auto& got = f.entries()[i];  // header order = the caller's order
    SCOPED_TRACE(want.name);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.dtype, want.dtype);
    EXPECT_EQ(got.shape, want.shape);
    EXPECT_EQ(got.nbytes(), want.nbytes);
    EXPECT_EQ(static_cast<size_t>(got.numel) * file_dtype_size(got.dtype), want.nbytes);
    EXPECT_EQ(got.kiln_dtype(), to_kiln_dtype(want.dtype));
    ASSERT_NE(got.data, nullptr);
    // (memcmp's pointers must be non-null even for 0 bytes; the empty tensor's buffer has none.)
    if (want.nbytes) {
      EXPECT_EQ(std::memcmp(got.data, want.data, want.nbytes), 0);
    }
    // Every tensor starts at a multiple of its element size, so typed access in place is aligned.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(got.data) % file_dtype_size(got.dtype), 0u);
    EXPECT_EQ(f.find(want.name), &got);
  }
  EXPECT_EQ(f.find("t.F32")->shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(f.find("scalar")->numel, 1);
  EXPECT_EQ(f.find("empty")->numel, 0);
  EXPECT_EQ(f.find("missing"), nullptr);
  try {
    f.at("missing");
    ADD_FAILURE() << "at() should throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor named 'missing'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }

  // The in-memory encoder produces exactly the file's bytes.
  const auto bytes = encode_safetensors(o.tensors, meta);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), test::read_file(path));
}

TEST(SafetensorsRoundTrip, DataOutlivesTheFileObjectThroughTheMapping) {
  Owned o;
  o.add("w", FileDType::F32, {4, 4});
  TempDir dir;
  write_safetensors(dir.file("m.safetensors"), o.tensors);
  std::shared_ptr<const MappedFile> keep;
  const uint8_t* data = nullptr;
  {
    const auto f = SafetensorsFile::open(dir.file("m.safetensors"));
    keep = f.mapping();
    data = f.at("w").data;
  }
  EXPECT_EQ(std::memcmp(data, o.buffers[0].data(), 64), 0);
}

TEST(SafetensorsRoundTrip, NoTensorsAndNoMetadata) {
  TempDir dir;
  write_safetensors(dir.file("empty.safetensors"), {});
  const auto f = SafetensorsFile::open(dir.file("empty.safetensors"));
  EXPECT_TRUE(f.entries().empty());
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_EQ(f.header().data_size(), 0u);
  // Only "{}" plus padding: no __metadata__ key is written when there is none.
  EXPECT_EQ(test::read_file(dir.file("empty.safetensors")).substr(8, 3), "{} ");
}

TEST(SafetensorsRoundTrip, OverwritesAnExistingFile) {
  Owned a, b;
  a.add("a", FileDType::U8, {100});
  b.add("b", FileDType::I16, {2});
  TempDir dir;
  write_safetensors(dir.file("x.safetensors"), a.tensors);
  write_safetensors(dir.file("x.safetensors"), b.tensors);
  const auto f = SafetensorsFile::open(dir.file("x.safetensors"));
  ASSERT_EQ(f.entries().size(), 1u);
  EXPECT_EQ(f.entries()[0].name, "b");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"x.safetensors"});
}

// Writer misuse is reported before anything is written.
void expect_write_error(const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& meta, const std::string& what) {
  TempDir dir;
  try {
    write_safetensors(dir.file("bad.safetensors"), tensors, meta);
    ADD_FAILURE() << "expected an error mentioning: " << what;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
  EXPECT_TRUE(dir.listing().empty()) << "nothing may be left behind";
}

TEST(SafetensorsWriter, RejectsInvalidInput) {
  const uint8_t buf[16] = {};
  expect_write_error({{"a", FileDType::F32, {2}, buf, 8}, {"a", FileDType::F32, {2}, buf, 8}}, {},
                     "duplicate tensor name 'a'");
  expect_write_error({{"__metadata__", FileDType::F32, {2}, buf, 8}}, {}, "reserved");
  expect_write_error({{"", FileDType::F32, {2}, buf, 8}}, {}, "must not be empty");
  expect_write_error({{"a", FileDType::F32, {3}, buf, 8}}, {}, "need 12 bytes, but 8 were given");
  expect_write_error({{"a", FileDType::F32, {-2}, buf, 8}}, {}, "negative dimension -2");
  expect_write_error({{"a", FileDType::F32, {2}, nullptr, 8}}, {}, "data is null");
  expect_write_error({{"a", FileDType::U8, {int64_t{1} << 62, 8}, buf, 16}}, {},
                     "more elements than fit in 64 bits");
  expect_write_error({{"a\xff", FileDType::U8, {1}, buf, 1}}, {}, "not valid UTF-8");
  expect_write_error({}, {{"k", "\xc3"}}, "not valid UTF-8");
}

}  // namespace
}  // namespace kiln::io
