// Writing safetensors files that any safetensors reader accepts and kiln can map in place:
//  - the header is padded with spaces so the data section starts at a multiple of 64 bytes;
//  - tensor data is packed back to back (the format forbids gaps) in order of decreasing element
//    size, so that every tensor starts at a multiple of its own element size;
//  - the header lists tensors in the caller's order, after __metadata__;
//  - the file is replaced atomically (see atomic_file.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/io/file_dtype.h"

namespace kiln::io {

struct TensorToWrite {
  std::string name;
  FileDType dtype{};
  std::vector<int64_t> shape;
  const void* data = nullptr;  // nbytes little-endian bytes; may be null only when nbytes == 0
  size_t nbytes = 0;           // must equal product(shape) * file_dtype_size(dtype)
};

// Alignment of the data section's start. 64 covers cache lines and every SIMD width kiln uses.
inline constexpr size_t kSafetensorsDataAlignment = 64;

// Throws kiln::Error (naming the tensor) for an empty, reserved or duplicate name, a negative
// dimension, an nbytes that does not match the shape, or text that is not valid UTF-8; nothing is
// written in that case.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// SHA-256 (lower-case hex) of the data section that write_safetensors writes for `tensors`: their
// bytes back to back in the writer's packing order. Recorded in a file's metadata before the write,
// it lets a reader check every tensor byte (nn/state_dict_io.h: kiln.data_sha256).
std::string data_section_sha256(const std::vector<TensorToWrite>& tensors);

// The same file as bytes in memory (for tests, seeds, and small payloads).
std::vector<uint8_t> encode_safetensors(const std::vector<TensorToWrite>& tensors,
                                        const std::map<std::string, std::string>& metadata = {});

}  // namespace kiln::io
