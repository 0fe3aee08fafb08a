#include "quant/decisions.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "core/error.h"
#include "core/ops.h"

namespace kiln::quant {

namespace {

int64_t inner(const Shape& s) {
  int64_t k = 1;
  for (size_t i = 1; i < s.size(); ++i) k *= s[i];
  return k;
}

std::string shape_text(const Shape& s) {
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "x" : "") + std::to_string(s[i]);
  return t;
}

std::string size_text(double bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(bytes >= 1e6 ? 1 : 0);
  if (bytes >= 1e6)
    os << bytes / 1e6 << " MB";
  else if (bytes >= 1e3)
    os << bytes / 1e3 << " kB";
  else
    os << bytes << " B";
  return os.str();
}

}  // namespace

std::vector<TensorDecision> uniform_decisions(const std::vector<Candidate>& candidates,
                                              const std::string& format) {
  std::vector<TensorDecision> out;
  for (const auto& c : candidates) {
    TensorDecision d{c.name, c.shape, c.kind, "f32", c.reason};
    if (c.eligible) {
      d.format = format;
      d.reason = "--scheme " + format;
    }
    out.push_back(std::move(d));
  }
  return out;
}

size_t stored_bytes(const std::string& format, const Shape& shape) {
  const int64_t n = shape.empty() ? 1 : shape[0], k = inner(shape);
  if (auto f = parse_format(format)) return static_cast<size_t>(n) * row_bytes(*f, k);
  return static_cast<size_t>(n * k) * (format == "bf16" ? 2 : 4);
}

Tensor quantize_tensor(const Tensor& w, Format format, const RowQuantizer& quantize) {
  KILN_CHECK(w.dim() >= 2, "quantize: ", w.describe(), " is not a matrix");
  const int64_t n = w.size(0), k = inner(w.shape());
  const Tensor f = contiguous(w.to(DType::F32));
  Tensor rows = Tensor::empty({n, static_cast<int64_t>(row_bytes(format, k))}, DType::U8);
  uint8_t* dst = static_cast<uint8_t*>(rows.raw_data());
  if (quantize) {
    quantize(format, f.data<float>(), n, k, dst);
  } else {
    quantize_rows(format, f.data<float>(), n, k, k, dst);
  }
  return rows;
}

nn::ModelFile quantized_model_file(const nn::ModelFile& input,
                                   std::vector<TensorDecision>& decisions,
                                   const nlohmann::json& settings,
                                   const TensorQuantizer& rounding) {
  KILN_CHECK(input.quantization.empty(),
             "the model is already quantized (kiln.quantization); "
             "quantize the float model");
  nn::ModelFile out = input;
  nlohmann::json tensors = nlohmann::json::object();
  for (auto& d : decisions) {
    const auto it = out.tensors.find(d.name);
    KILN_CHECK(it != out.tensors.end(), "quantize: the model file has no tensor '", d.name, "'");
    if (auto f = parse_format(d.format)) {
      Tensor rows = rounding ? rounding(d, it->second, *f) : Tensor();
      it->second = rows.defined() ? rows : quantize_tensor(it->second, *f);
    } else if (d.format == "bf16") {
      it->second = it->second.to(DType::BF16);
    } else {
      // Kept in float as stored (a bf16 model's kept tensors stay bf16): recorded as such.
      d.format = dtype_name(it->second.dtype());
    }
    nlohmann::json e = {{"format", d.format}, {"shape", d.shape}, {"reason", d.reason}};
    if (!std::isnan(d.drop)) e["drop"] = d.drop;
    tensors[d.name] = std::move(e);
  }
  nlohmann::json meta = settings;
  meta["version"] = nn::kQuantizationVersion;
  meta["tensors"] = std::move(tensors);
  out.extra_metadata[nn::kQuantizationKey] = meta.dump();
  out.provenance["quantized"] = true;
  return out;
}

std::string decision_table(const std::vector<TensorDecision>& decisions) {
  size_t wn = 6, ws = 5;
  for (const auto& d : decisions) {
    wn = std::max(wn, d.name.size());
    ws = std::max(ws, shape_text(d.shape).size());
  }
  std::ostringstream os;
  os << std::left << std::setw(static_cast<int>(wn)) << "tensor"
     << "  " << std::setw(static_cast<int>(ws)) << "shape"
     << "  " << std::setw(6) << "format"
     << "  " << std::setw(9) << "size"
     << "  reason\n";
  for (const auto& d : decisions) {
    os << std::setw(static_cast<int>(wn)) << d.name << "  " << std::setw(static_cast<int>(ws))
       << shape_text(d.shape) << "  " << std::setw(6) << d.format << "  " << std::setw(9)
       << size_text(static_cast<double>(stored_bytes(d.format, d.shape))) << "  " << d.reason
       << "\n";
  }
  return os.str();
}

size_t tensor_bytes(const nn::StateDict& tensors) {
  size_t b = 0;
  for (const auto& [name, t] : tensors) b += static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
  return b;
}

}  // namespace kiln::quant
