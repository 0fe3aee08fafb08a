#include "nn/tensor_compression.h"

#include <zstd.h>

#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kiln::nn {

namespace {

std::string field(const std::string& name, const std::string& key = "") {
  return std::string(kCompressionKey) + ".tensors[\"" + name + "\"]" +
         (key.empty() ? "" : "." + key);
}

}  // namespace

void decompress_tensors(StateDict& tensors, std::map<std::string, std::string>& meta,
                        const std::string& origin) {
  const auto it = meta.find(kCompressionKey);
  if (it == meta.end()) return;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": metadata '" + kCompressionKey + "' is not valid JSON (" + e.what() +
                ")");
  }
  KILN_CHECK(j.is_object() && j.value("codec", "") == "zstd", origin, ": ", kCompressionKey,
             ".codec must be \"zstd\" (the only codec this kiln reads)");
  const auto entries = j.find("tensors");
  KILN_CHECK(entries != j.end() && entries->is_object(), origin, ": ", kCompressionKey,
             ".tensors is missing or not an object");
  for (const auto& [name, e] : entries->items()) {
    const auto t = tensors.find(name);
    KILN_CHECK(t != tensors.end(), origin, ": ", field(name), ": the file has no tensor '", name,
               "'");
    KILN_CHECK(e.is_object() && e.contains("dtype") && e["dtype"].is_string(), origin, ": ",
               field(name, "dtype"), " is missing or not a string");
    const auto dtype = parse_dtype(e["dtype"].get<std::string>());
    KILN_CHECK(dtype.has_value(), origin, ": ", field(name, "dtype"), ": unknown dtype '",
               e["dtype"].get<std::string>(), "'");
    KILN_CHECK(e.contains("shape") && e["shape"].is_array(), origin, ": ", field(name, "shape"),
               " is missing or not a list of sizes");
    Shape shape;
    double numel = 1;
    for (const auto& d : e["shape"]) {
      KILN_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, origin, ": ", field(name, "shape"),
                 " holds ", d.dump(), ", not a size");
      shape.push_back(d.get<int64_t>());
      numel *= static_cast<double>(d.get<int64_t>());
    }
    const double bytes = numel * static_cast<double>(dtype_size(*dtype));
    const Tensor& packed = t->second;
    KILN_CHECK(packed.dtype() == DType::U8 && packed.dim() == 1 && packed.is_contiguous(), origin,
               ": compressed tensor '", name, "' is ", packed.describe(), ", not u8 [bytes]");
    const auto* src = static_cast<const uint8_t*>(packed.raw_data());
    const size_t src_size = static_cast<size_t>(packed.numel());
    const unsigned long long content = ZSTD_getFrameContentSize(src, src_size);
    KILN_CHECK(content != ZSTD_CONTENTSIZE_ERROR && content != ZSTD_CONTENTSIZE_UNKNOWN &&
                   static_cast<double>(content) == bytes,
               origin, ": compressed tensor '", name, "' is not a zstd frame of ", bytes,
               " bytes (the size ", field(name), " implies)");
    Tensor out = Tensor::empty(shape, *dtype);
    const size_t got = ZSTD_decompress(out.raw_data(), static_cast<size_t>(bytes), src, src_size);
    KILN_CHECK(!ZSTD_isError(got) && got == static_cast<size_t>(bytes), origin,
               ": compressed tensor '", name, "' does not decompress (",
               ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame", ")");
    t->second = std::move(out);
  }
  meta.erase(it);
}

StateDict compress_tensors(const StateDict& tensors, int level, std::string* metadata_json) {
  StateDict out;
  nlohmann::json listed = nlohmann::json::object();
  for (const auto& [name, t] : tensors) {
    const Tensor c = t.is_contiguous() ? t : t.clone();
    const size_t bytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
    std::vector<uint8_t> buf(ZSTD_compressBound(bytes));
    const size_t n = ZSTD_compress(buf.data(), buf.size(), c.raw_data(), bytes, level);
    KILN_CHECK(!ZSTD_isError(n), "zstd: compressing '", name, "' failed (", ZSTD_getErrorName(n),
               ")");
    if (n >= bytes) {  // zstd did not shrink it: store it as it is
      out[name] = t;
      continue;
    }
    Tensor packed = Tensor::empty({static_cast<int64_t>(n)}, DType::U8);
    std::memcpy(packed.raw_data(), buf.data(), n);
    out[name] = std::move(packed);
    listed[name] = {{"dtype", dtype_safetensors_name(c.dtype())}, {"shape", c.shape()}};
  }
  *metadata_json = nlohmann::json{{"codec", "zstd"}, {"tensors", listed}}.dump();
  return out;
}

}  // namespace kiln::nn
