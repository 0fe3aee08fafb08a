#include "nn/quantized_weight.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "nn/image_layers.h"
#include "nn/layers.h"

namespace kiln::nn {

int64_t QuantizedTensorInfo::k() const {
  int64_t k = 1;
  for (size_t i = 1; i < shape.size(); ++i) k *= shape[i];
  return k;
}

namespace {

std::string field(const std::string& name, const std::string& key = "") {
  return std::string(kQuantizationKey) + ".tensors[\"" + name + "\"]" +
         (key.empty() ? "" : "." + key);
}

std::string shape_text(const Shape& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

}  // namespace

QuantizationTable parse_quantization(const std::string& json_text, const StateDict& tensors,
                                     const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": metadata '" + kQuantizationKey + "' is not valid JSON (" + e.what() +
                ")");
  }
  KILN_CHECK(j.is_object(), origin, ": metadata '", kQuantizationKey, "' is not a JSON object");
  const auto version = j.find("version");
  KILN_CHECK(version != j.end() && version->is_number_integer() &&
                 version->get<int>() == kQuantizationVersion,
             origin, ": ", kQuantizationKey, ".version must be ", kQuantizationVersion,
             " (this kiln reads that version)");
  const auto entries = j.find("tensors");
  KILN_CHECK(entries != j.end() && entries->is_object(), origin, ": ", kQuantizationKey,
             ".tensors is missing or not an object");
  QuantizationTable table;
  for (const auto& [name, e] : entries->items()) {
    KILN_CHECK(e.is_object(), origin, ": ", field(name), " is not an object");
    QuantizedTensorInfo info;
    const auto fmt = e.find("format");
    KILN_CHECK(fmt != e.end() && fmt->is_string(), origin, ": ", field(name, "format"),
               " is missing or not a string");
    info.format = fmt->get<std::string>();
    info.quant = quant::parse_format(info.format);
    KILN_CHECK(info.quant || info.format == "bf16" || info.format == "f16" || info.format == "f32",
               origin, ": ", field(name, "format"), ": unknown format '", info.format,
               "' (int8, q4_0, q4_1, bf16, f16 or f32)");
    const auto shape = e.find("shape");
    KILN_CHECK(shape != e.end() && shape->is_array() && !shape->empty(), origin, ": ",
               field(name, "shape"), " is missing or not a list of sizes");
    for (const auto& d : *shape) {
      KILN_CHECK(d.is_number_integer() && d.get<int64_t>() > 0 && d.get<int64_t>() <= (1LL << 40),
                 origin, ": ", field(name, "shape"), " holds ", d.dump(), ", not a positive size");
      info.shape.push_back(d.get<int64_t>());
    }
    if (const auto r = e.find("reason"); r != e.end() && r->is_string()) info.reason = *r;
    const auto t = tensors.find(name);
    KILN_CHECK(t != tensors.end(), origin, ": ", field(name), ": the file has no tensor '", name,
               "'");
    if (info.quant) {
      KILN_CHECK(info.shape.size() >= 2, origin, ": ", field(name, "shape"), " ",
                 shape_text(info.shape), ": a quantized tensor must be at least 2-D");
      double elems = 1;
      for (int64_t d : info.shape) elems *= static_cast<double>(d);
      KILN_CHECK(elems <= 1e12, origin, ": ", field(name, "shape"), " ", shape_text(info.shape),
                 " is absurdly large");
      const auto rb = static_cast<int64_t>(quant::row_bytes(*info.quant, info.k()));
      KILN_CHECK(t->second.dtype() == DType::U8 && t->second.shape() == Shape({info.n(), rb}),
                 origin, ": tensor '", name, "' is ", t->second.describe(), " but ", field(name),
                 " says ", info.format, " of ", shape_text(info.shape), ", stored as u8 [",
                 info.n(), ", ", rb, "]");
    } else {
      const DType want = *parse_dtype(info.format);
      KILN_CHECK(t->second.dtype() == want && t->second.shape() == info.shape, origin, ": tensor '",
                 name, "' is ", t->second.describe(), " but ", field(name), " says ", info.format,
                 " ", shape_text(info.shape));
    }
    table.emplace(name, std::move(info));
  }
  return table;
}

StateDict with_float_placeholders(const StateDict& tensors, const QuantizationTable& table) {
  StateDict out = tensors;
  for (const auto& [name, info] : table) {
    if (!info.quant) continue;
    // One element broadcast to the shape: numel() and shape() are the float tensor's, no memory.
    out[name] = Tensor::zeros(Shape(info.shape.size(), 1)).expand(info.shape);
  }
  return out;
}

void attach_quantized_weights(Module& model, const StateDict& tensors,
                              const QuantizationTable& table, const std::string& origin) {
  bool any = false;
  for (const auto& [name, info] : table) any |= info.quant.has_value();
  if (!any) return;
  // Read before any layer is quantized (afterwards the walk refuses quantized layers).
  const std::map<std::string, std::string> aliases = model.parameter_aliases();
  std::map<std::string, Module*> modules;
  for (auto& [path, m] : model.named_modules()) modules.emplace(path, m);
  for (const auto& [name, info] : table) {
    if (!info.quant) continue;
    KILN_CHECK(
        !aliases.count(name), origin, ": '", name, "' is quantized, but it is another name of '",
        aliases.count(name) ? aliases.at(name) : "", "', under which tied tensors are stored");
    // A tied tensor (BART's shared embedding and LM head) goes into every layer that uses it.
    std::vector<std::string> names{name};
    for (const auto& [alias, canonical] : aliases)
      if (canonical == name) names.push_back(alias);
    const Tensor& rows = tensors.at(name);
    std::shared_ptr<const quant::PackedQuantB> packed;  // one repacked copy for every Linear
    for (const std::string& n : names) {
      const size_t dot = n.rfind('.');
      const std::string path = dot == std::string::npos ? "" : n.substr(0, dot);
      const std::string leaf = dot == std::string::npos ? n : n.substr(dot + 1);
      const auto it = modules.find(path);
      Module* m = it == modules.end() || leaf != "weight" ? nullptr : it->second;
      auto* lin = dynamic_cast<Linear*>(m);
      auto* conv = dynamic_cast<Conv2d*>(m);
      // A Linear or Embedding weight is 2-D, a convolution's 4-D ([c_out, c_in, kh, kw]).
      KILN_CHECK(!m || info.shape.size() == (conv ? 4u : 2u), origin, ": '", name,
                 "' is quantized (", info.format, ") with shape ", shape_text(info.shape), ", but ",
                 conv ? "a convolution weight is 4-D" : "a Linear or Embedding weight is 2-D");
      if (lin || conv) {
        if (!packed)
          packed = std::make_shared<const quant::PackedQuantB>(
              *info.quant, info.n(), info.k(), static_cast<const uint8_t*>(rows.raw_data()));
        if (lin)
          lin->set_quantized(packed, name);
        else
          conv->set_quantized(packed, name);
      } else if (auto* emb = dynamic_cast<Embedding*>(m)) {
        emb->set_quantized(*info.quant, info.n(), info.k(),
                           rows.is_contiguous() ? rows : rows.clone(), name);
      } else {
        throw Error(origin + ": '" + n + "' is quantized (" + info.format +
                    ") but it is not the weight of a Linear, Conv2d or Embedding layer of this "
                    "model; kiln runs quantized weights only there");
      }
    }
  }
}

std::string first_quantized_tensor(const QuantizationTable& table) {
  for (const auto& [name, info] : table)
    if (info.quant) return name;
  return "";
}

}  // namespace kiln::nn
