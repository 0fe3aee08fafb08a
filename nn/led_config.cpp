// LedConfig::from_json: the fields of a Hugging Face LED config.json, validated. The fields LED
// shares with BART, under the same names, are read by BartConfig::from_json so that both
// families accept and refuse them alike; errors name the file and the field.
#include <algorithm>

#include "nn/led.h"

namespace kiln::nn {

namespace {

int64_t positive_integer(const nlohmann::json& j, const char* name, const std::string& origin) {
  KILN_CHECK(j.contains(name) && !j.at(name).is_null(), origin, ": missing config field '", name,
             "'");
  const auto& v = j.at(name);
  KILN_CHECK(v.is_number_integer(), origin, ": config field '", name, "' has the wrong type (",
             v.type_name(), ")");
  const auto n = v.get<int64_t>();
  KILN_CHECK(n > 0, origin, ": config field '", name, "' is ", n, "; it must be positive");
  return n;
}

// transformers accepts one window for every layer or one per layer; each must be even (w / 2
// tokens on each side) and positive.
std::vector<int64_t> attention_windows(const nlohmann::json& j, int64_t layers,
                                       const std::string& origin) {
  KILN_CHECK(j.contains("attention_window") && !j.at("attention_window").is_null(), origin,
             ": missing config field 'attention_window'");
  const auto& v = j.at("attention_window");
  std::vector<int64_t> windows;
  if (v.is_number_integer()) {
    windows.assign(static_cast<size_t>(layers), v.get<int64_t>());
  } else {
    KILN_CHECK(v.is_array(), origin,
               ": config field 'attention_window' must be an integer or a list of integers (got ",
               v.type_name(), ")");
    for (const auto& w : v) {
      KILN_CHECK(w.is_number_integer(), origin,
                 ": config field 'attention_window' must hold integers (got ", w.type_name(), ")");
      windows.push_back(w.get<int64_t>());
    }
    KILN_CHECK(static_cast<int64_t>(windows.size()) == layers, origin,
               ": config field 'attention_window' has ", windows.size(), " windows but there are ",
               layers, " encoder layers (encoder_layers)");
  }
  for (int64_t w : windows)
    KILN_CHECK(w > 0 && w % 2 == 0, origin, ": config field 'attention_window' holds ", w,
               "; every window must be even and positive");
  return windows;
}

}  // namespace

int64_t LedConfig::padding_multiple() const {
  return *std::max_element(attention_window.begin(), attention_window.end());
}

LedConfig LedConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  KILN_CHECK(j.is_object(), origin, ": config must be a JSON object");
  KILN_CHECK(j.contains("model_type") && j.at("model_type").is_string(), origin,
             ": missing config field 'model_type'");
  const std::string type = j.at("model_type").get<std::string>();
  KILN_CHECK(type == "led", origin, ": model_type '", type, "' is not LED (expected led)");
  LedConfig c;
  const auto archs = j.find("architectures");
  if (archs != j.end() && archs->is_array() && !archs->empty()) {
    KILN_CHECK((*archs)[0].is_string(), origin, ": config field 'architectures' must hold strings");
    c.architecture = (*archs)[0].get<std::string>();
  }
  KILN_CHECK(c.architecture.empty() || c.architecture == "LEDModel" ||
                 c.architecture == "LEDForConditionalGeneration",
             origin, ": architecture '", c.architecture,
             "' (config field 'architectures') is not supported (expected "
             "LEDForConditionalGeneration or LEDModel)");

  c.max_encoder_positions = positive_integer(j, "max_encoder_position_embeddings", origin);
  c.max_decoder_positions = positive_integer(j, "max_decoder_position_embeddings", origin);
  // The shared fields through BART's parser: the same names, except that BART has one
  // max_position_embeddings and LED no scale_embedding (LEDConfig ignores one).
  nlohmann::json shared = j;
  shared["model_type"] = "bart";
  shared["architectures"] = {c.architecture == "LEDForConditionalGeneration"
                                 ? "BartForConditionalGeneration"
                                 : "BartModel"};
  shared["max_position_embeddings"] = c.max_decoder_positions;
  shared.erase("scale_embedding");
  c.bart = BartConfig::from_json(shared, origin);
  c.bart.model_type = "led";
  c.bart.architecture = c.architecture;
  c.attention_window = attention_windows(j, c.bart.encoder_layers, origin);
  return c;
}

}  // namespace kiln::nn
