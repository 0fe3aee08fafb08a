// The BERT encoder family (BERT, RoBERTa, DistilBERT) in the model-family registry: everything a
// command needs to know about these checkpoints lives here and in nn/bert.*, nowhere else.
#include <string>

#include "nn/bert.h"
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
    // Byte-level BPE sees a word's leading space: Hugging Face encodes pre-split words as " word".
    s.word_prefix_space = c.family == BertFamily::Roberta;
    s.input_names = {"input_ids", "attention_mask"};
    if (c.family != BertFamily::DistilBert) s.input_names.push_back("token_type_ids");
    s.summary = {{"architecture", c.architecture.empty() ? "(none)" : c.architecture},
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
};

KILN_MODEL_FAMILY(BertFamilyEntry);

}  // namespace
}  // namespace kiln::nn
