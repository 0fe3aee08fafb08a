// The LED family in the model-family registry: config parsing, building, checkpoint import, the
// size checks and the `kiln inspect` summary. The model itself is nn/led.*.
#include <limits>
#include <sstream>
#include <string>

#include "nn/bart_checkpoint_import.h"
#include "nn/family.h"
#include "nn/led.h"
#include "nn/led_checks.h"

namespace kiln::nn {
namespace {

std::string stack_line(int64_t layers, int64_t heads, int64_t ffn) {
  std::ostringstream os;
  os << layers << (layers == 1 ? " layer, " : " layers, ") << heads << " heads, ffn " << ffn;
  return os.str();
}

std::string windows_line(const std::vector<int64_t>& windows) {
  std::ostringstream os;
  os << "sliding window";
  for (size_t i = 0; i < windows.size(); ++i) os << (i ? ", " : " ") << windows[i];
  os << " (per layer) + global tokens";
  return os.str();
}

std::string activation_line(const BartConfig& b) {
  std::ostringstream os;  // default formatting: 0.1, 0
  os << b.activation_name << ", dropout " << b.dropout << ", attention " << b.attention_dropout
     << ", activation " << b.activation_dropout;
  return os.str();
}

class LedFamilyEntry : public ModelFamily {
 public:
  std::string name() const override { return "led"; }
  std::vector<std::string> model_types() const override { return {"led"}; }
  std::vector<std::string> architectures() const override {
    return {"LEDForConditionalGeneration", "LEDModel"};
  }
  std::vector<std::string> tasks() const override { return {}; }

  ModelSpec parse_config(const nlohmann::json& config, const std::string& origin) const override {
    const LedConfig c = LedConfig::from_json(config, origin);
    const BartConfig& b = c.bart;
    ModelSpec s;
    s.family = name();
    s.model_type = "led";
    s.architecture = c.architecture;
    // The input is padded to a multiple of the largest window, which must still have positions.
    s.max_tokens = c.max_encoder_positions / c.padding_multiple() * c.padding_multiple();
    s.pad_token_id = b.pad_token_id;
    s.vocab_size = b.vocab_size;
    s.word_prefix_space = true;  // byte-level BPE, as BART
    s.input_names = {"input_ids", "attention_mask", "global_attention_mask", "decoder_input_ids",
                     "decoder_attention_mask"};
    const std::pair<const char*, int64_t> ids[] = {
        {"pad_token_id", b.pad_token_id},
        {"bos_token_id", b.bos_token_id},
        {"eos_token_id", b.eos_token_id},
        {"decoder_start_token_id", b.decoder_start_token_id},
        {"forced_bos_token_id", b.forced_bos_token_id},
        {"forced_eos_token_id", b.forced_eos_token_id}};
    std::string tokens;
    for (const auto& [key, id] : ids) {
      if (id >= 0) s.special_token_ids[key] = id;
      std::string label = key;
      label = label.substr(0, label.size() - 9);  // "_token_id"
      for (char& ch : label)
        if (ch == '_') ch = ' ';
      tokens += (tokens.empty() ? "" : ", ") + label + " " + (id < 0 ? "none" : std::to_string(id));
    }
    s.summary = {{"architecture",
                  b.lm_head ? c.architecture
                            : (c.architecture.empty() ? "(none: LEDModel)" : c.architecture) +
                                  " (encoder-decoder, no LM head)"},
                 {"size", "d_model " + std::to_string(b.d_model) + ", vocabulary " +
                              std::to_string(b.vocab_size) + ", max positions " +
                              std::to_string(c.max_encoder_positions) + " encoder / " +
                              std::to_string(c.max_decoder_positions) + " decoder"},
                 {"encoder", stack_line(b.encoder_layers, b.encoder_heads, b.encoder_ffn_dim)},
                 {"attention", windows_line(c.attention_window)},
                 {"decoder", stack_line(b.decoder_layers, b.decoder_heads, b.decoder_ffn_dim)},
                 {"embeddings", std::string("shared, ") +
                                    (b.lm_head ? (b.tie_word_embeddings ? "tied to lm_head, "
                                                                        : "lm_head separate, ")
                                               : "") +
                                    "positions without offset"},
                 {"activation", activation_line(b)},
                 {"tokens", tokens}};
    return s;
  }

  std::unique_ptr<Model> build(const nlohmann::json& config,
                               const std::string& origin) const override {
    return std::make_unique<LedModel>(LedConfig::from_json(config, origin));
  }

  int64_t parameter_count(const nlohmann::json& config, const std::string& origin) const override {
    const double n = led_parameter_count(LedConfig::from_json(config, origin));
    return n >= 9.2e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(n);
  }

  void check_tensors(const nlohmann::json& config, const StateDict& tensors,
                     const std::string& origin) const override {
    check_led_tensors(LedConfig::from_json(config, origin), tensors, origin);
  }

  std::vector<FeedForwardBlock> feed_forward_blocks(const nlohmann::json& config,
                                                    const std::string& origin) const override {
    const LedConfig c = LedConfig::from_json(config, origin);
    return bart_feed_forward_blocks(c.bart, c.bart.lm_head ? "led." : "");
  }

  nlohmann::json config_with_head(const nlohmann::json& /*config*/, const std::string& task,
                                  const std::vector<std::string>& /*labels*/) const override {
    throw Error("the led family has no '" + task + "' head (it has no task heads yet)");
  }

  ConvertedWeights import_checkpoint(const nlohmann::json& config, StateDict tensors,
                                     const std::string& origin) const override {
    const LedConfig c = LedConfig::from_json(config, origin);
    return import_bart_style_checkpoint(config, c.bart, "led", std::move(tensors), origin);
  }
};

KILN_MODEL_FAMILY(LedFamilyEntry);

}  // namespace
}  // namespace kiln::nn
