// The BART family in the model-family registry: config parsing, building, checkpoint import and
// the `kiln inspect` summary. The model itself is nn/bart.*.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "nn/bart.h"
#include "nn/bart_checkpoint_import.h"
#include "nn/family.h"

namespace kiln::nn {
namespace {

std::string id_text(int64_t id) {
  return id < 0 ? "none" : std::to_string(id);
}

std::string number_text(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string stack_text(int64_t layers, int64_t heads, int64_t ffn) {
  return std::to_string(layers) + (layers == 1 ? " layer, " : " layers, ") + std::to_string(heads) +
         " heads, ffn " + std::to_string(ffn);
}

class BartFamilyEntry : public ModelFamily {
 public:
  std::string name() const override { return "bart"; }
  std::vector<std::string> model_types() const override { return {"bart"}; }
  std::vector<std::string> architectures() const override {
    return {"BartForConditionalGeneration", "BartModel"};
  }
  // BartForConditionalGeneration serves summarization (train/summarization_task.cpp).
  std::vector<std::string> tasks() const override { return {"summarization"}; }
  std::vector<std::pair<std::string, std::string>> refused_model_types() const override {
    return bart_relatives_not_supported();
  }

  ModelSpec parse_config(const nlohmann::json& config, const std::string& origin) const override {
    const BartConfig c = BartConfig::from_json(config, origin);
    ModelSpec s;
    s.family = name();
    s.model_type = c.model_type;
    s.architecture = c.architecture;
    if (c.lm_head) s.task = "summarization";
    s.max_tokens = c.max_position_embeddings;  // the offset of 2 is extra rows, not fewer tokens
    s.pad_token_id = c.pad_token_id;
    s.vocab_size = c.vocab_size;
    s.word_prefix_space = true;  // byte-level BPE, as RoBERTa
    s.input_names = {"input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask"};
    const std::pair<const char*, int64_t> ids[] = {
        {"pad_token_id", c.pad_token_id},
        {"bos_token_id", c.bos_token_id},
        {"eos_token_id", c.eos_token_id},
        {"decoder_start_token_id", c.decoder_start_token_id},
        {"forced_bos_token_id", c.forced_bos_token_id},
        {"forced_eos_token_id", c.forced_eos_token_id}};
    for (const auto& [key, id] : ids)
      if (id >= 0) s.special_token_ids[key] = id;
    const std::string arch = c.lm_head
                                 ? c.architecture
                                 : (c.architecture.empty() ? "(none: BartModel)" : c.architecture) +
                                       " (encoder-decoder, no LM head)";
    s.summary = {
        {"architecture", arch},
        {"size", "d_model " + std::to_string(c.d_model) + ", vocabulary " +
                     std::to_string(c.vocab_size) + ", max positions " +
                     std::to_string(c.max_position_embeddings)},
        {"encoder", stack_text(c.encoder_layers, c.encoder_heads, c.encoder_ffn_dim)},
        {"decoder", stack_text(c.decoder_layers, c.decoder_heads, c.decoder_ffn_dim)},
        {"embeddings",
         std::string("shared, ") +
             (c.lm_head ? (c.tie_word_embeddings ? "tied to lm_head, " : "lm_head separate, ")
                        : "") +
             "positions offset 2, scale_embedding " +
             (c.scale_embedding ? "true (x" + number_text(c.embed_scale()) + ")" : "false")},
        {"activation", c.activation_name + ", dropout " + number_text(c.dropout) + ", attention " +
                           number_text(c.attention_dropout) + ", activation " +
                           number_text(c.activation_dropout)},
        {"tokens", "pad " + id_text(c.pad_token_id) + ", bos " + id_text(c.bos_token_id) +
                       ", eos " + id_text(c.eos_token_id) + ", decoder start " +
                       id_text(c.decoder_start_token_id) + ", forced bos " +
                       id_text(c.forced_bos_token_id) + ", forced eos " +
                       id_text(c.forced_eos_token_id)}};
    return s;
  }

  std::unique_ptr<Model> build(const nlohmann::json& config,
                               const std::string& origin) const override {
    return std::make_unique<BartModel>(BartConfig::from_json(config, origin));
  }

  // Parameters of the model build() makes (the final_logits_bias buffer is not one). Counted in
  // double so that an absurd config saturates instead of overflowing.
  int64_t parameter_count(const nlohmann::json& config, const std::string& origin) const override {
    const BartConfig c = BartConfig::from_json(config, origin);
    const double d = static_cast<double>(c.d_model);
    const double positions = static_cast<double>(c.max_position_embeddings + 2);
    const double vocab = static_cast<double>(c.vocab_size);
    const double attention = 4 * (d * d + d), norm = 2 * d;
    auto ffn = [d](int64_t f) {
      return 2 * d * static_cast<double>(f) + static_cast<double>(f) + d;
    };
    double n = vocab * d + 2 * (positions * d + norm);
    n += static_cast<double>(c.encoder_layers) * (attention + ffn(c.encoder_ffn_dim) + 2 * norm);
    n +=
        static_cast<double>(c.decoder_layers) * (2 * attention + ffn(c.decoder_ffn_dim) + 3 * norm);
    if (c.lm_head && !c.tie_word_embeddings) n += vocab * d;
    return n >= 9.2e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(n);
  }

  std::vector<FeedForwardBlock> feed_forward_blocks(const nlohmann::json& config,
                                                    const std::string& origin) const override {
    const BartConfig c = BartConfig::from_json(config, origin);
    return bart_feed_forward_blocks(c, c.lm_head ? "model." : "");
  }

  // The LM head of BartForConditionalGeneration is the shared embedding (tied) plus a zero
  // final_logits_bias: a config "with a summarization head" only names that architecture.
  nlohmann::json config_with_head(const nlohmann::json& config, const std::string& task,
                                  const std::vector<std::string>& /*labels*/) const override {
    KILN_CHECK(task == "summarization", "the bart family has no '", task,
               "' head (BartForConditionalGeneration serves summarization)");
    nlohmann::json c = config;
    c["architectures"] = {"BartForConditionalGeneration"};
    return c;
  }

  // A bare BartModel's weights under BartForConditionalGeneration, as transformers'
  // from_pretrained loads them: "model." in front; the LM head is the tied shared embedding and
  // final_logits_bias a zero buffer, so nothing new is random. The reverse drops the prefix (and
  // the head's tensors then name nothing, so they are reported as not used).
  std::string rename_weight(const nlohmann::json& from, const nlohmann::json& to,
                            const std::string& name) const override {
    const bool from_head = BartConfig::from_json(from, "the weights' config").lm_head;
    const bool to_head = BartConfig::from_json(to, "the model's config").lm_head;
    if (!from_head && to_head) return "model." + name;
    if (from_head && !to_head && name.rfind("model.", 0) == 0) return name.substr(6);
    return name;
  }

  // transformers loads a bare BartModel checkpoint into BartForConditionalGeneration (and the
  // reverse) by adding or removing the "model." prefix; kiln does the same at convert time. Tied
  // aliases stored beside model.shared.weight (older save_pretrained versions wrote them) are
  // accepted when they hold the same values, and not stored again.
  ConvertedWeights import_checkpoint(const nlohmann::json& config, StateDict tensors,
                                     const std::string& origin) const override {
    return import_bart_style_checkpoint(config, BartConfig::from_json(config, origin), "model",
                                        std::move(tensors), origin);
  }
};

KILN_MODEL_FAMILY(BartFamilyEntry);

}  // namespace
}  // namespace kiln::nn
