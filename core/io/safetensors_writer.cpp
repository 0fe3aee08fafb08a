#include "core/io/safetensors_writer.h"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/text_escape.h"
#include "core/sha256.h"

namespace kiln::io {

namespace {

struct Layout {
  std::string prefix;         // 8-byte length + padded JSON header
  std::vector<size_t> order;  // indices into the tensor list, in data-section order
};

void validate(const TensorToWrite& t) {
  const std::string name = "write_safetensors: tensor '" + escape_for_display(t.name, 120) + "'";
  KILN_CHECK(!t.name.empty(), "write_safetensors: tensor names must not be empty");
  KILN_CHECK(t.name != "__metadata__", name, ": the name is reserved for the metadata block");
  uint64_t numel = 1;
  for (int64_t d : t.shape) {
    KILN_CHECK(d >= 0, name, ": negative dimension ", d);
    KILN_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel), name,
               ": shape has more elements than fit in 64 bits");
  }
  uint64_t expected = 0;
  KILN_CHECK(!__builtin_mul_overflow(numel, file_dtype_size(t.dtype), &expected), name,
             ": shape needs more bytes than fit in 64 bits");
  KILN_CHECK(expected == t.nbytes, name, ": shape and dtype ", file_dtype_name(t.dtype), " need ",
             expected, " bytes, but ", t.nbytes, " were given");
  KILN_CHECK(t.data || t.nbytes == 0, name, ": data is null");
}

// Indices into `tensors` in data-section order. Larger elements first: each tensor's byte size is
// a multiple of its element size, so every start offset stays a multiple of the element sizes that
// follow.
std::vector<size_t> packing_order(const std::vector<TensorToWrite>& tensors) {
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return file_dtype_size(tensors[a].dtype) > file_dtype_size(tensors[b].dtype);
  });
  return order;
}

Layout plan(const std::vector<TensorToWrite>& tensors,
            const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> names;
  for (const auto& t : tensors) {
    validate(t);
    KILN_CHECK(names.insert(t.name).second, "write_safetensors: duplicate tensor name '",
               escape_for_display(t.name, 120), "'");
  }

  Layout layout;
  layout.order = packing_order(tensors);
  std::vector<std::pair<uint64_t, uint64_t>> offsets(tensors.size());
  uint64_t at = 0;
  for (size_t i : layout.order) {
    offsets[i] = {at, at + tensors[i].nbytes};
    at += tensors[i].nbytes;
  }

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  for (size_t i = 0; i < tensors.size(); ++i) {
    header[tensors[i].name] = {{"dtype", file_dtype_name(tensors[i].dtype)},
                               {"shape", tensors[i].shape},
                               {"data_offsets", {offsets[i].first, offsets[i].second}}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {
    // dump() refuses strings that are not UTF-8; JSON (and so safetensors) requires it.
    throw Error("write_safetensors: a tensor name or metadata string is not valid UTF-8");
  }
  const size_t unpadded = 8 + text.size();
  const size_t padded = (unpadded + kSafetensorsDataAlignment - 1) / kSafetensorsDataAlignment *
                        kSafetensorsDataAlignment;
  text.append(padded - unpadded, ' ');

  layout.prefix.resize(8);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) layout.prefix[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  layout.prefix += text;
  return layout;
}

void emit(const Layout& layout, const std::vector<TensorToWrite>& tensors,
          const std::function<void(const void*, size_t)>& out) {
  out(layout.prefix.data(), layout.prefix.size());
  for (size_t i : layout.order) {
    if (tensors[i].nbytes) out(tensors[i].data, tensors[i].nbytes);
  }
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const Layout layout = plan(tensors, metadata);  // validate before touching the file system
  atomic_write_file(path, [&](FileSink& sink) {
    emit(layout, tensors, [&](const void* p, size_t n) { sink.write(p, n); });
  });
}

std::string data_section_sha256(const std::vector<TensorToWrite>& tensors) {
  for (const auto& t : tensors) validate(t);
  Sha256 h;
  for (size_t i : packing_order(tensors))
    if (tensors[i].nbytes) h.update(tensors[i].data, tensors[i].nbytes);
  return h.hex_digest();
}

std::vector<uint8_t> encode_safetensors(const std::vector<TensorToWrite>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  const Layout layout = plan(tensors, metadata);
  std::vector<uint8_t> bytes;
  emit(layout, tensors, [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  });
  return bytes;
}

}  // namespace kiln::io
