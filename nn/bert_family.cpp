// The BERT encoder family (BERT, RoBERTa, DistilBERT) in the model-family registry: everything a
// command needs to know about these checkpoints lives here and in nn/bert.*, nowhere else.
#include <string>

#include "nn/bert.h"
#include "nn/bert_checks.h"
#include "nn/family.h"

namespace kiln::nn {
namespace {

constexpr const char* kTokenTask = "token-classification";
constexpr const char* kSequenceTask = "sequence-classification";

std::string class_prefix(const std::string& model_type) {
  if (model_type == "roberta") return "Roberta";
  if (model_type == "distilbert") return "DistilBert";
  return "Bert";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string model_type_of(const nlohmann::json& config) {
  const auto it = config.find("model_type");
  return it != config.end() && it->is_string() ? it->get<std::string>() : "bert";
}

std::string architecture_of(const nlohmann::json& config) {
  const auto it = config.find("architectures");
  if (it == config.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) return "";
  return (*it)[0].get<std::string>();
}

// The state-dict prefix of the encoder (transformers' base_model_prefix): none in the bare
// *Model, "bert." / "roberta." / "distilbert." under any head.
std::string encoder_prefix(const nlohmann::json& config) {
  const std::string type = model_type_of(config), arch = architecture_of(config);
  return arch.empty() || arch == class_prefix(type) + "Model" ? "" : type + ".";
}

// Tensors of the heads transformers puts over these encoders: masked-LM and next-sentence heads
// (what `kiln convert` drops) and classification heads (what --reinit-head replaces).
bool is_head_tensor(const std::string& model_type, const std::string& name) {
  static const std::vector<std::string> bert = {"cls.", "classifier."};
  static const std::vector<std::string> roberta = {"lm_head.", "classifier."};
  static const std::vector<std::string> distilbert = {"vocab_transform.", "vocab_layer_norm.",
                                                      "vocab_projector.", "pre_classifier.",
                                                      "classifier."};
  const auto& heads = model_type == "roberta"      ? roberta
                      : model_type == "distilbert" ? distilbert
                                                   : bert;
  for (const auto& h : heads)
    if (name.compare(0, h.size(), h) == 0) return true;
  return false;
}

// Checkpoints saved by old code (bert-base-uncased on the Hub among them) name LayerNorm
// parameters gamma and beta; transformers renames them on load, and so does kiln.
nn::StateDict with_modern_names(nn::StateDict tensors, const std::string& origin) {
  nn::StateDict out;
  for (auto& [name, t] : tensors) {
    std::string modern = name;
    if (ends_with(name, ".gamma"))
      modern = name.substr(0, name.size() - 6) + ".weight";
    else if (ends_with(name, ".beta"))
      modern = name.substr(0, name.size() - 5) + ".bias";
    KILN_CHECK(!out.count(modern) && (modern == name || !tensors.count(modern)), origin,
               ": the checkpoint holds both '", name, "' and '", modern, "'");
    out[modern] = std::move(t);
  }
  return out;
}

std::string task_of(BertTask t) {
  switch (t) {
    case BertTask::TokenClassification:
      return kTokenTask;
    case BertTask::SequenceClassification:
      return kSequenceTask;
    case BertTask::Base:
      break;
  }
  return "";
}

class BertFamilyEntry : public ModelFamily {
 public:
  std::string name() const override { return "bert"; }
  std::vector<std::string> model_types() const override {
    return {"bert", "distilbert", "roberta"};
  }
  std::vector<std::string> architectures() const override {
    std::vector<std::string> out;
    for (const char* prefix : {"Bert", "Roberta", "DistilBert"})
      for (const char* suffix : {"Model", "ForTokenClassification", "ForSequenceClassification"})
        out.push_back(std::string(prefix) + suffix);
    return out;
  }
  std::vector<std::string> tasks() const override { return {kTokenTask, kSequenceTask}; }

  ModelSpec parse_config(const nlohmann::json& config, const std::string& origin) const override {
    const BertConfig c = BertConfig::from_json(config, origin);
    ModelSpec s;
    s.family = name();
    s.model_type = c.model_type;
    s.architecture = c.architecture;
    s.task = task_of(c.task);
    s.labels = c.labels;
    s.max_tokens = c.max_tokens();
    s.pad_token_id = c.pad_token_id;
    s.vocab_size = c.vocab_size;
    // Byte-level BPE sees a word's leading space: Hugging Face encodes pre-split words as " word".
    s.word_prefix_space = c.family == BertFamily::Roberta;
    s.input_names = {"input_ids", "attention_mask"};
    if (c.family != BertFamily::DistilBert) s.input_names.push_back("token_type_ids");
    std::string arch = c.architecture.empty() ? "(none)" : c.architecture;
    if (c.task == BertTask::Base)
      arch += c.add_pooler ? " (encoder with pooler, no task head)"
                           : " (encoder without pooler, no task head)";
    s.summary = {{"architecture", arch},
                 {"size", std::to_string(c.num_layers) + " layers, hidden " +
                              std::to_string(c.hidden_size) + ", " + std::to_string(c.num_heads) +
                              " heads, intermediate " + std::to_string(c.intermediate_size) +
                              ", vocabulary " + std::to_string(c.vocab_size) + ", max positions " +
                              std::to_string(c.max_position_embeddings)}};
    return s;
  }

  std::unique_ptr<Model> build(const nlohmann::json& config,
                               const std::string& origin) const override {
    return std::make_unique<BertModel>(BertConfig::from_json(config, origin));
  }

  nlohmann::json config_with_head(const nlohmann::json& config, const std::string& task,
                                  const std::vector<std::string>& labels) const override {
    KILN_CHECK(task == kTokenTask || task == kSequenceTask, "the bert family has no '", task,
               "' head (heads: ", kTokenTask, ", ", kSequenceTask, ")");
    nlohmann::json out = config;
    out.erase("add_pooling_layer");  // the head decides whether it has a pooler
    out["architectures"] = {
        class_prefix(config.value("model_type", "bert")) +
        (task == kTokenTask ? "ForTokenClassification" : "ForSequenceClassification")};
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (size_t i = 0; i < labels.size(); ++i) {
      id2label[std::to_string(i)] = labels[i];
      label2id[labels[i]] = i;
    }
    out["id2label"] = id2label;
    out["label2id"] = label2id;
    return out;
  }

  // The Hub's bert-base-*, roberta-base and distilbert-base-* are *ForMaskedLM or
  // *ForPreTraining checkpoints: kiln keeps their encoder (the pooler too when there is one) and
  // drops the pre-training heads, as transformers does when it loads them into a classifier.
  ConvertedWeights import_checkpoint(const nlohmann::json& config, StateDict tensors,
                                     const std::string& origin) const override {
    tensors = with_modern_names(std::move(tensors), origin);
    const std::string arch = architecture_of(config);
    if (ends_with(arch, "ForMaskedLM") || ends_with(arch, "ForPreTraining"))
      return without_head(config, std::move(tensors), origin);
    return {config, std::move(tensors), {}};
  }

  ConvertedWeights without_head(const nlohmann::json& config, StateDict tensors,
                                const std::string& /*origin*/) const override {
    const std::string type = model_type_of(config), prefix = encoder_prefix(config);
    ConvertedWeights out;
    for (auto& [name, t] : tensors) {
      if (is_head_tensor(type, name)) {
        out.dropped.push_back(name);
        continue;
      }
      // A name outside the encoder keeps its name, so that the strict load refuses it.
      const bool in_encoder = !prefix.empty() && name.compare(0, prefix.size(), prefix) == 0;
      out.tensors[in_encoder ? name.substr(prefix.size()) : name] = std::move(t);
    }
    out.config = config;
    out.config["architectures"] = {class_prefix(type) + "Model"};
    for (const char* key : {"id2label", "label2id", "num_labels"}) out.config.erase(key);
    // BertForMaskedLM and RobertaForMaskedLM have no pooler; BertForPreTraining and the
    // classifiers over a pooler keep it. (DistilBERT never has one.)
    out.config.erase("add_pooling_layer");
    if (type != "distilbert" && !out.tensors.count("pooler.dense.weight"))
      out.config["add_pooling_layer"] = false;
    return out;
  }

  std::string rename_weight(const nlohmann::json& from, const nlohmann::json& to,
                            const std::string& name) const override {
    const std::string pf = encoder_prefix(from), pt = encoder_prefix(to);
    if (pf == pt || name.compare(0, pf.size(), pf) != 0) return name;
    // From a bare encoder every tensor is an encoder tensor; under a head, those with its prefix.
    return pt + name.substr(pf.size());
  }

  int64_t parameter_count(const nlohmann::json& config, const std::string& origin) const override {
    return static_cast<int64_t>(bert_parameter_count(BertConfig::from_json(config, origin)));
  }
  void check_tensors(const nlohmann::json& config, const StateDict& tensors,
                     const std::string& origin) const override {
    check_bert_tensors(BertConfig::from_json(config, origin), tensors, origin);
  }
  std::vector<FeedForwardBlock> feed_forward_blocks(const nlohmann::json& config,
                                                    const std::string& origin) const override {
    const BertConfig c = BertConfig::from_json(config, origin);
    const bool distil = c.family == BertFamily::DistilBert;
    const std::string stack =
        encoder_prefix(config) + (distil ? "transformer.layer." : "encoder.layer.");
    std::vector<FeedForwardBlock> out;
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string layer = stack + std::to_string(i) + ".";
      if (distil)
        out.push_back({layer + "ffn.lin1.weight", layer + "ffn.lin1.bias",
                       layer + "ffn.lin2.weight", "hidden_dim"});
      else
        out.push_back({layer + "intermediate.dense.weight", layer + "intermediate.dense.bias",
                       layer + "output.dense.weight", "intermediate_size"});
    }
    return out;
  }
};

KILN_MODEL_FAMILY(BertFamilyEntry);

}  // namespace
}  // namespace kiln::nn
