// Parsing and validation of a safetensors header, separate from file access so that it can be
// tested and fuzzed on bytes in memory.
//
// Layout: 8-byte little-endian length N, N bytes of JSON (may be padded with trailing spaces), then
// the data section. The JSON is one object: an optional "__metadata__" object of string values,
// and per tensor {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, offsets relative
// to the data section. Everything a hostile file could get wrong is checked here, so that code
// holding a parsed header can index the data without further bounds checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/io/file_dtype.h"

namespace kiln::io {

struct ParseLimits {
  // Same cap as the reference implementation: a real header is kilobytes; anything near this is
  // corrupt or an attempt to make the reader allocate.
  uint64_t max_header_bytes = 100'000'000;
  // Rank cap: far above any real tensor, low enough that one entry cannot hold millions of dims.
  size_t max_rank = 64;
  // Tensors plus metadata keys. Each costs ~100 bytes of bookkeeping for as little as 6 bytes of
  // JSON, so without a cap a header under the size limit could still make the reader allocate
  // gigabytes. Real checkpoints (and shards) hold at most a few thousand tensors.
  size_t max_entries = 1'000'000;
};

struct TensorEntry {
  std::string name;
  FileDType dtype{};
  std::vector<int64_t> shape;
  // data_offsets as written in the header: relative to the start of the data section.
  uint64_t data_begin = 0;
  uint64_t data_end = 0;
  int64_t numel = 0;  // product of shape (1 for a scalar); fits since it is <= the file size
  // The tensor's bytes in the buffer that was parsed (or the mapped file); nullptr when the parsed
  // buffer did not include the data section. Alignment is whatever the file gives: kiln's writer
  // aligns each tensor to its element size, other writers may not (check before typed access).
  const uint8_t* data = nullptr;

  size_t nbytes() const { return static_cast<size_t>(data_end - data_begin); }
  std::span<const uint8_t> bytes() const { return {data, data ? nbytes() : 0}; }
  std::optional<DType> kiln_dtype() const { return to_kiln_dtype(dtype); }
};

struct SafetensorsHeader {
  uint64_t file_size = 0;
  uint64_t header_size = 0;  // N, the JSON length including padding
  uint64_t data_offset = 0;  // 8 + N: where the data section starts in the file
  std::map<std::string, std::string> metadata;
  std::vector<TensorEntry> tensors;  // in the order the header lists them

  uint64_t data_size() const { return file_size - data_offset; }
};

// Parses and fully validates the header of a safetensors file of `file_size` bytes whose first
// `size` bytes are at `data` (size may be less than file_size as long as it covers 8 + N bytes;
// when it covers the whole file, TensorEntry::data is set). `origin` (usually the path) starts
// every error message. Throws kiln::Error describing the first problem found.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, uint64_t file_size,
                                           std::string_view origin, const ParseLimits& limits = {});

}  // namespace kiln::io
