// BartConfig::from_json: the fields of a Hugging Face BART config.json, validated. Errors name the
// file and the field. Also the names of the feed-forward blocks such a config implies.
#include <cmath>
#include <tuple>

#include "nn/bart.h"

namespace kiln::nn {

namespace {

template <typename T>
T field(const nlohmann::json& j, const char* name, const std::string& origin) {
  KILN_CHECK(j.contains(name) && !j.at(name).is_null(), origin, ": missing config field '", name,
             "'");
  const auto& v = j.at(name);
  // nlohmann converts between numbers and bools silently; a size written as 2.5 or "2" is an error.
  bool ok = true;
  if constexpr (std::is_same_v<T, bool>)
    ok = v.is_boolean();
  else if constexpr (std::is_integral_v<T>)
    ok = v.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>)
    ok = v.is_number();
  else
    ok = v.is_string();
  KILN_CHECK(ok, origin, ": config field '", name, "' has the wrong type (", v.type_name(), ")");
  return v.get<T>();
}

template <typename T>
T field_or(const nlohmann::json& j, const char* name, T def, const std::string& origin) {
  if (!j.contains(name) || j.at(name).is_null()) return def;
  return field<T>(j, name, origin);
}

int64_t positive(const nlohmann::json& j, const char* name, const std::string& origin) {
  const auto v = field<int64_t>(j, name, origin);
  KILN_CHECK(v > 0, origin, ": config field '", name, "' is ", v, "; it must be positive");
  return v;
}

// A dropout-like probability: must lie in [0, 1) (1 would drop everything).
double probability_or(const nlohmann::json& j, const char* name, double def,
                      const std::string& origin) {
  const double p = field_or<double>(j, name, def, origin);
  KILN_CHECK(p >= 0.0 && p < 1.0, origin, ": config field '", name, "' is ", p,
             "; a dropout probability must be in [0, 1)");
  return p;
}

// A token id: null or absent means "none" (-1); otherwise it must be a vocabulary index.
int64_t token_id_or(const nlohmann::json& j, const char* name, int64_t def, int64_t vocab,
                    const std::string& origin) {
  const int64_t id = field_or<int64_t>(j, name, def, origin);
  if (j.contains(name) && j.at(name).is_null()) return -1;
  KILN_CHECK(id == -1 || (id >= 0 && id < vocab), origin, ": config field '", name, "' is ", id,
             "; a token id must be in [0, vocab_size ", vocab, ")");
  return id;
}

// Fields of transformers 3.x's BartConfig, which also described mBART and friends. transformers
// 4.30's BartModel no longer reads them (it is always post-LayerNorm, with layernorm_embedding,
// learned positions and no final LayerNorm), so a checkpoint that sets one to the other value was
// made for different code. kiln refuses it rather than guess: no reference output of such a
// variant was available to check an implementation against.
struct LegacyField {
  const char* name;
  bool bart_value;
  const char* other_value_means;
};
constexpr LegacyField kLegacyFields[] = {
    {"normalize_before", false, "pre-LayerNorm layers, as mBART"},
    {"add_final_layer_norm", false, "a final encoder and decoder LayerNorm, as mBART"},
    {"normalize_embedding", true, "no layernorm_embedding"},
    {"static_position_embeddings", false, "sinusoidal positions, as Marian"},
    {"add_bias_logits", false, "a bias on the LM-head logits other than final_logits_bias"},
};

}  // namespace

std::vector<std::pair<std::string, std::string>> bart_relatives_not_supported() {
  const std::string sp =
      " checkpoints come with a SentencePiece tokenizer, which kiln cannot read yet";
  return {{"mbart", "mBART" + sp + " (and its layers are pre-LayerNorm)"},
          {"pegasus", "PEGASUS" + sp},
          {"pegasus_x", "PEGASUS-X" + sp},
          {"bigbird_pegasus", "BigBird-PEGASUS" + sp},
          {"marian", "Marian" + sp},
          {"m2m_100", "M2M-100 and NLLB" + sp},
          {"plbart", "PLBart" + sp}};
}

double BartConfig::embed_scale() const {
  return scale_embedding ? std::sqrt(static_cast<double>(d_model)) : 1.0;
}

BartConfig BartConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  KILN_CHECK(j.is_object(), origin, ": config must be a JSON object");
  BartConfig c;
  c.model_type = field<std::string>(j, "model_type", origin);
  if (c.model_type != "bart") {
    for (const auto& [type, why] : bart_relatives_not_supported())
      KILN_CHECK(c.model_type != type, origin, ": model_type '", type, "' is not supported: ", why);
    throw Error(origin + ": model_type '" + c.model_type + "' is not BART (expected bart)");
  }
  const auto archs = j.find("architectures");
  if (archs != j.end() && archs->is_array() && !archs->empty()) {
    KILN_CHECK((*archs)[0].is_string(), origin, ": config field 'architectures' must hold strings");
    c.architecture = (*archs)[0].get<std::string>();
  }
  KILN_CHECK(c.architecture.empty() || c.architecture == "BartModel" ||
                 c.architecture == "BartForConditionalGeneration",
             origin, ": architecture '", c.architecture,
             "' (config field 'architectures') is not supported (expected "
             "BartForConditionalGeneration or BartModel)");
  c.lm_head = c.architecture == "BartForConditionalGeneration";

  c.vocab_size = positive(j, "vocab_size", origin);
  c.d_model = positive(j, "d_model", origin);
  c.max_position_embeddings = positive(j, "max_position_embeddings", origin);
  c.encoder_layers = positive(j, "encoder_layers", origin);
  c.decoder_layers = positive(j, "decoder_layers", origin);
  c.encoder_heads = positive(j, "encoder_attention_heads", origin);
  c.decoder_heads = positive(j, "decoder_attention_heads", origin);
  c.encoder_ffn_dim = positive(j, "encoder_ffn_dim", origin);
  c.decoder_ffn_dim = positive(j, "decoder_ffn_dim", origin);
  KILN_CHECK(c.d_model % c.encoder_heads == 0, origin, ": d_model ", c.d_model,
             " is not divisible by encoder_attention_heads ", c.encoder_heads);
  KILN_CHECK(c.d_model % c.decoder_heads == 0, origin, ": d_model ", c.d_model,
             " is not divisible by decoder_attention_heads ", c.decoder_heads);

  c.scale_embedding = field_or<bool>(j, "scale_embedding", false, origin);
  c.tie_word_embeddings = field_or<bool>(j, "tie_word_embeddings", true, origin);
  c.activation_name = field_or<std::string>(j, "activation_function", "gelu", origin);
  if (c.activation_name == "gelu")
    c.activation = BartActivation::Gelu;
  else if (c.activation_name == "gelu_new" || c.activation_name == "gelu_pytorch_tanh")
    c.activation = BartActivation::GeluTanh;
  else if (c.activation_name == "relu")
    c.activation = BartActivation::Relu;
  else
    throw Error(origin + ": config field 'activation_function' is '" + c.activation_name +
                "', which is not supported (expected gelu, gelu_new, gelu_pytorch_tanh or relu)");
  c.dropout = probability_or(j, "dropout", 0.1, origin);
  c.attention_dropout = probability_or(j, "attention_dropout", 0.0, origin);
  c.activation_dropout = probability_or(j, "activation_dropout", 0.0, origin);
  c.encoder_layerdrop = probability_or(j, "encoder_layerdrop", 0.0, origin);
  c.decoder_layerdrop = probability_or(j, "decoder_layerdrop", 0.0, origin);
  c.init_std = field_or<double>(j, "init_std", 0.02, origin);
  KILN_CHECK(c.init_std >= 0.0, origin, ": config field 'init_std' is ", c.init_std,
             "; it must not be negative");

  const int64_t v = c.vocab_size;
  c.pad_token_id = token_id_or(j, "pad_token_id", 1, v, origin);
  c.bos_token_id = token_id_or(j, "bos_token_id", 0, v, origin);
  c.eos_token_id = token_id_or(j, "eos_token_id", 2, v, origin);
  c.decoder_start_token_id = token_id_or(j, "decoder_start_token_id", 2, v, origin);
  c.forced_bos_token_id = token_id_or(j, "forced_bos_token_id", -1, v, origin);
  c.forced_eos_token_id = token_id_or(j, "forced_eos_token_id", 2, v, origin);
  // The decoder's default input (shift_tokens_right) needs both.
  KILN_CHECK(c.pad_token_id >= 0, origin, ": config field 'pad_token_id' must be set");
  KILN_CHECK(c.decoder_start_token_id >= 0, origin,
             ": config field 'decoder_start_token_id' must be set");

  for (const LegacyField& f : kLegacyFields) {
    const bool value = field_or<bool>(j, f.name, f.bart_value, origin);
    KILN_CHECK(value == f.bart_value, origin, ": config field '", f.name, "' is ",
               value ? "true" : "false", " (", f.other_value_means,
               "); transformers 4.30's BART ignores this field, so the checkpoint was made for "
               "other code, and kiln does not implement that variant");
  }
  return c;
}

std::vector<FeedForwardBlock> bart_feed_forward_blocks(const BartConfig& c,
                                                       const std::string& prefix) {
  std::vector<FeedForwardBlock> out;
  for (const auto& [stack, layers, field] :
       {std::tuple{"encoder", c.encoder_layers, "encoder_ffn_dim"},
        std::tuple{"decoder", c.decoder_layers, "decoder_ffn_dim"}})
    for (int64_t i = 0; i < layers; ++i) {
      const std::string layer = prefix + stack + ".layers." + std::to_string(i) + ".";
      out.push_back({layer + "fc1.weight", layer + "fc1.bias", layer + "fc2.weight", field});
    }
  return out;
}

}  // namespace kiln::nn
