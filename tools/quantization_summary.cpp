#include "tools/quantization_summary.h"

#include <iomanip>
#include <map>
#include <sstream>

#include "core/dtype.h"
#include "core/io/file_dtype.h"
#include "core/quant_format.h"

namespace kiln::cli {

namespace {

nlohmann::json parse_or_null(const std::map<std::string, std::string>& meta, const char* key) {
  const auto it = meta.find(key);
  if (it == meta.end()) return nullptr;
  return nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
}

double product(const nlohmann::json& shape) {
  double p = 1;
  if (!shape.is_array()) return 0;
  for (const auto& d : shape) p *= d.is_number() ? d.get<double>() : 0;
  return p;
}

std::string mb(double bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << bytes / 1e6 << " MB";
  return os.str();
}

}  // namespace

nlohmann::ordered_json quantization_summary(const io::SafetensorsFile& f) {
  const nlohmann::json q = parse_or_null(f.metadata(), "kiln.quantization");
  const nlohmann::json c = parse_or_null(f.metadata(), "kiln.compression");
  const bool quantized = q.is_object() && q.contains("tensors") && q["tensors"].is_object();
  const bool compressed = c.is_object() && c.contains("tensors") && c["tensors"].is_object();
  if (!quantized && !compressed) return nullptr;
  nlohmann::ordered_json out;
  nlohmann::ordered_json formats = nlohmann::ordered_json::object();
  std::map<std::string, int> counts;
  double float_bytes = 0, stored_bytes = 0, file_bytes = 0;
  for (const auto& t : f.entries()) {
    file_bytes += static_cast<double>(t.nbytes());
    // The tensor before compression: dtype and shape from kiln.compression when listed.
    std::string dtype = io::file_dtype_name(t.dtype);
    double numel = static_cast<double>(t.numel);
    if (compressed && c["tensors"].contains(t.name)) {
      const auto& e = c["tensors"][t.name];
      dtype = e.value("dtype", dtype);
      numel = product(e.value("shape", nlohmann::json()));
    }
    const auto kd = parse_dtype(dtype);
    const double elem = kd ? static_cast<double>(dtype_size(*kd)) : 1.0;
    stored_bytes += numel * elem;
    std::string format = kd ? std::string(dtype_name(*kd)) : dtype;
    double float_numel = numel;
    if (quantized && q["tensors"].contains(t.name) && q["tensors"][t.name].is_object()) {
      const auto& e = q["tensors"][t.name];
      format = e.value("format", format);
      float_numel = product(e.value("shape", nlohmann::json()));
      formats[t.name] = format;
    }
    // The float model: floating tensors as f32, integer buffers as they are.
    const bool floating = (kd && is_floating(*kd)) || quant::parse_format(format).has_value();
    float_bytes += floating ? float_numel * 4 : numel * elem;
    ++counts[format];
  }
  out["formats"] = formats;
  out["counts"] = counts;
  out["float_bytes"] = float_bytes;
  out["stored_bytes"] = stored_bytes;
  out["file_bytes"] = file_bytes;
  out["compressed"] = compressed;
  return out;
}

void print_quantization_summary(const io::SafetensorsFile& f, bool per_tensor, std::ostream& os) {
  const nlohmann::ordered_json s = quantization_summary(f);
  if (s.is_null()) return;
  os << "quantization\n";
  if (per_tensor) {
    size_t w = 0;
    for (const auto& [name, fmt] : s["formats"].items()) w = std::max(w, name.size());
    for (const auto& [name, fmt] : s["formats"].items())
      os << "  " << name << std::string(w - name.size() + 2, ' ') << fmt.get<std::string>() << "\n";
  }
  os << "  tensors by format ";
  bool first = true;
  for (const auto& [fmt, n] : s["counts"].items()) {
    os << (first ? "" : ", ") << fmt << ": " << n.get<int>();
    first = false;
  }
  const double fl = s["float_bytes"], st = s["stored_bytes"], fi = s["file_bytes"];
  os << "\n  size          " << mb(st) << " of tensor data vs " << mb(fl) << " as f32 ("
     << std::fixed << std::setprecision(1) << 100.0 * st / fl << "%)";
  if (s["compressed"].get<bool>())
    os << "; zstd-compressed: " << mb(fi) << " (" << 100.0 * fi / fl << "%)";
  os << "\n\n";
}

}  // namespace kiln::cli
