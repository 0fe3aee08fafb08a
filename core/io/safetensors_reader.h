// Zero-copy reading of a safetensors file: the file is memory-mapped, the header is validated in
// full (see safetensors_header.h), and each entry's data pointer points into the mapping. Copies of
// a SafetensorsFile share the mapping; anything that keeps tensor data beyond the file object's
// lifetime should hold mapping() as well.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/io/mapped_file.h"
#include "core/io/safetensors_header.h"

namespace kiln::io {

class SafetensorsFile {
 public:
  // Throws kiln::Error (message starts with the path) if the file is missing, unreadable or not a
  // well-formed safetensors file.
  static SafetensorsFile open(const std::string& path, const ParseLimits& limits = {});

  const std::string& path() const { return mapping_->path(); }
  // Tensors in the order the header lists them; every entry's data pointer is set.
  const std::vector<TensorEntry>& entries() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const SafetensorsHeader& header() const { return header_; }
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }

  // nullptr if there is no such tensor.
  const TensorEntry* find(std::string_view name) const;
  // Throws kiln::Error naming the file and the missing tensor.
  const TensorEntry& at(std::string_view name) const;

 private:
  SafetensorsFile(std::shared_ptr<const MappedFile> mapping, SafetensorsHeader header);

  std::shared_ptr<const MappedFile> mapping_;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in entries()
};

}  // namespace kiln::io
