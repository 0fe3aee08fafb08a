#include "core/io/safetensors_reader.h"

#include "core/error.h"
#include "core/io/text_escape.h"

namespace kiln::io {

SafetensorsFile SafetensorsFile::open(const std::string& path, const ParseLimits& limits) {
  auto mapping = MappedFile::open(path);
  auto header =
      parse_safetensors_header(mapping->data(), mapping->size(), mapping->size(), path, limits);
  return SafetensorsFile(std::move(mapping), std::move(header));
}

SafetensorsFile::SafetensorsFile(std::shared_ptr<const MappedFile> mapping,
                                 SafetensorsHeader header)
    : mapping_(std::move(mapping)), header_(std::move(header)) {
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
}

const TensorEntry* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const TensorEntry& SafetensorsFile::at(std::string_view name) const {
  const TensorEntry* t = find(name);
  KILN_CHECK(t, path(), ": no tensor named '", escape_for_display(name, 200), "' (the file has ",
             header_.tensors.size(), " tensors)");
  return *t;
}

}  // namespace kiln::io
