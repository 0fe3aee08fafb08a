#include "nn/state_dict_io.h"

#include <cstdint>
#include <cstring>

#include "core/io/safetensors.h"

namespace kiln::nn {

StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  io::SafetensorsFile file = io::SafetensorsFile::open(path);
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
  io::write_safetensors(path, items, metadata);
}

}  // namespace kiln::nn
