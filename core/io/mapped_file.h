// A read-only memory map of a whole file. Tensor views point straight into it (zero-copy load), so
// it is handed out as shared_ptr<const MappedFile>: whoever holds a view keeps the mapping alive.
//
// The mapping is MAP_PRIVATE and read-only. If another process truncates the file while it is
// mapped, touching the lost pages raises SIGBUS; kiln's writers never do that (they replace files
// by rename, which leaves an existing mapping intact).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace kiln::io {

class MappedFile {
 public:
  // Throws kiln::Error naming the path if it cannot be opened, is not a regular file, or is empty
  // (an empty file cannot be mapped and is never a valid kiln file).
  static std::shared_ptr<const MappedFile> open(const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace kiln::io
