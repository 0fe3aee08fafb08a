#include "nn/state_dict_io.h"

#include <cstdint>
#include <cstring>

#include "core/io/safetensors.h"
#include "core/io/text_escape.h"
#include "core/sha256.h"

namespace kiln::nn {

namespace {

// The recorded checksum against the data section as it is on disk now.
void verify_data_sha256(const io::SafetensorsFile& file) {
  const auto it = file.metadata().find(kDataSha256Key);
  if (it == file.metadata().end()) return;  // an older or foreign file: nothing to check against
  const io::SafetensorsHeader& h = file.header();
  Sha256 sha;
  sha.update(file.mapping()->data() + h.data_offset, h.data_size());
  const std::string actual = sha.hex_digest();
  KILN_CHECK(actual == it->second, file.path(), ": the tensor data is corrupt: its sha256 is ",
             actual, " but the file records ", kDataSha256Key, " = ",
             io::escape_for_display(it->second, 80),
             " (changed on disk after it was written: restore or re-create the file; "
             "--no-verify skips this check)");
}

}  // namespace

StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata,
                           bool verify) {
  io::SafetensorsFile file = io::SafetensorsFile::open(path);
  if (verify) verify_data_sha256(file);
  StateDict out;
  for (const auto& e : file.entries()) {
    const auto dt = e.kiln_dtype();
    KILN_CHECK(dt.has_value(), path, ": tensor '", e.name, "' has dtype ",
               io::file_dtype_name(e.dtype), ", which kiln cannot compute with");
    const size_t align = dtype_size(*dt);
    if (reinterpret_cast<uintptr_t>(e.data) % align == 0) {
      out[e.name] = Tensor::from_file_mapping(e.data, e.shape, *dt, file.mapping());
    } else {
      // Another writer's packing left this tensor misaligned: copy it.
      Tensor t = Tensor::empty(e.shape, *dt);
      std::memcpy(t.raw_data(), e.data, e.nbytes());
      out[e.name] = t;
    }
  }
  if (metadata) *metadata = file.metadata();
  return out;
}

void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> keep;  // contiguous copies must live until the write finishes
  std::vector<io::TensorToWrite> items;
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.contiguous());
    const Tensor& c = keep.back();
    items.push_back({name, io::to_file_dtype(c.dtype()), c.shape(), c.raw_data(), c.nbytes()});
  }
  std::map<std::string, std::string> meta = metadata;
  meta[kDataSha256Key] = io::data_section_sha256(items);
  io::write_safetensors(path, items, meta);
}

}  // namespace kiln::nn
