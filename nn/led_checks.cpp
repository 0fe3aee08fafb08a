#include "nn/led_checks.h"

namespace kiln::nn {

std::vector<LedTensorShape> led_tensor_shapes(const LedConfig& c) {
  const BartConfig& s = c.bart;
  const int64_t d = s.d_model;
  const std::string base = s.lm_head ? "led." : "";
  std::vector<LedTensorShape> out;
  auto linear = [&](const std::string& name, int64_t in, int64_t o, const std::string& fields) {
    out.push_back({name + ".weight", {o, in}, fields});
    out.push_back({name + ".bias", {o}, fields});
  };
  auto norm = [&](const std::string& name) {
    out.push_back({name + ".weight", {d}, "d_model"});
    out.push_back({name + ".bias", {d}, "d_model"});
  };
  out.push_back({base + "shared.weight", {s.vocab_size, d}, "vocab_size, d_model"});
  out.push_back({base + "encoder.embed_positions.weight",
                 {c.max_encoder_positions, d},
                 "max_encoder_position_embeddings, d_model"});
  for (int64_t i = 0; i < s.encoder_layers; ++i) {
    const std::string layer = base + "encoder.layers." + std::to_string(i) + ".";
    const std::string attn = layer + "self_attn.longformer_self_attn.";
    for (const char* p : {"query", "key", "value", "query_global", "key_global", "value_global"})
      linear(attn + p, d, d, "d_model");
    linear(layer + "self_attn.output", d, d, "d_model");
    norm(layer + "self_attn_layer_norm");
    linear(layer + "fc1", d, s.encoder_ffn_dim, "encoder_ffn_dim, d_model");
    linear(layer + "fc2", s.encoder_ffn_dim, d, "encoder_ffn_dim, d_model");
    norm(layer + "final_layer_norm");
  }
  norm(base + "encoder.layernorm_embedding");
  out.push_back({base + "decoder.embed_positions.weight",
                 {c.max_decoder_positions, d},
                 "max_decoder_position_embeddings, d_model"});
  for (int64_t i = 0; i < s.decoder_layers; ++i) {
    const std::string layer = base + "decoder.layers." + std::to_string(i) + ".";
    for (const char* a : {"self_attn", "encoder_attn"}) {
      for (const char* p : {"k_proj", "v_proj", "q_proj", "out_proj"})
        linear(layer + a + "." + p, d, d, "d_model");
      norm(layer + a + "_layer_norm");
    }
    linear(layer + "fc1", d, s.decoder_ffn_dim, "decoder_ffn_dim, d_model");
    linear(layer + "fc2", s.decoder_ffn_dim, d, "decoder_ffn_dim, d_model");
    norm(layer + "final_layer_norm");
  }
  norm(base + "decoder.layernorm_embedding");
  if (s.lm_head) {
    if (!s.tie_word_embeddings)
      out.push_back({"lm_head.weight", {s.vocab_size, d}, "vocab_size, d_model"});
    out.push_back({"final_logits_bias", {1, s.vocab_size}, "vocab_size", true});
  }
  return out;
}

double led_parameter_count(const LedConfig& c) {
  double n = 0;
  for (const LedTensorShape& t : led_tensor_shapes(c)) {
    if (t.buffer) continue;
    double numel = 1;
    for (int64_t s : t.shape) numel *= static_cast<double>(s);
    n += numel;
  }
  return n;
}

void check_led_tensors(const LedConfig& c, const StateDict& tensors, const std::string& origin) {
  for (const LedTensorShape& want : led_tensor_shapes(c)) {
    const auto it = tensors.find(want.name);
    if (want.buffer && it == tensors.end()) continue;  // as transformers: final_logits_bias is 0
    KILN_CHECK(it != tensors.end(), origin, ": the checkpoint has no tensor '", want.name,
               "', which the config's ", c.architecture.empty() ? "LEDModel" : c.architecture,
               " needs");
    KILN_CHECK(it->second.shape() == want.shape, origin, ": tensor '", want.name, "' has shape ",
               shape_str(it->second.shape()), " but the config (", want.fields, ") gives ",
               shape_str(want.shape));
  }
}

}  // namespace kiln::nn
