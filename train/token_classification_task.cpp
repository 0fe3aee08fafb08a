// token-classification: one label per word (BIO/IOB2 tags such as keyphrases or entities), scored
// on each word's first sub-token, evaluated with seqeval's entity F1 (plus loss and word-level
// per-tag scores and confusion matrix). `kiln tag` predicts with it.
#include "core/ops.h"
#include "train/evaluate.h"
#include "train/metrics.h"
#include "train/predictors.h"
#include "train/text_classification_task.h"

namespace kiln::train {
namespace {

// seqeval's entity precision/recall/F1 (the selection metrics, overall and by entity type), the
// mean loss over the scored sub-tokens, and word-level tag accuracy, macro-F1, per-tag scores and
// confusion matrix.
class TagEvaluation : public Evaluation {
 public:
  explicit TagEvaluation(std::vector<std::string> labels) : labels_(std::move(labels)) {
    for (size_t i = 0; i < labels_.size(); ++i)
      if (labels_[i] == "O") outside_ = static_cast<int64_t>(i);
  }

  void add(const nn::NamedTensors& outputs, const TaskData& data,
           const std::vector<size_t>& indices) override {
    const auto& ex = dynamic_cast<const LabelledTextData&>(data).examples;
    const Tensor& logits = outputs.at("logits");
    const std::vector<int64_t> p = argmax(logits, -1).contiguous().to_ints();
    const int64_t len = logits.size(1);
    // The loss's targets, laid out as the batch's tokens (padding not scored).
    std::vector<int64_t> targets(indices.size() * static_cast<size_t>(len), kIgnoreLabel);
    for (size_t r = 0; r < indices.size(); ++r) {
      const Example& e = ex[indices[r]];
      for (size_t t = 0; t < e.ids.size(); ++t) targets[r * len + t] = e.labels[t];
      std::vector<std::string> g, q;
      for (size_t w = 0; w < e.word_labels.size(); ++w) {
        g.push_back(labels_[e.word_labels[w]]);
        // A word cut off by truncation gets no prediction; `kiln tag` reports it as "O".
        const int64_t id = e.word_tokens[w] < 0 ? outside_ : p[r * len + e.word_tokens[w]];
        q.push_back(id < 0 ? "O" : labels_[id]);
        gold_ids_.push_back(e.word_labels[w]);
        predicted_ids_.push_back(id);
      }
      gold_.push_back(std::move(g));
      predicted_.push_back(std::move(q));
    }
    loss_.add(logits, targets);
  }

  nlohmann::json metrics() const override {
    const EntityScores s = entity_scores(gold_, predicted_);
    const ClassReport words =
        class_report(gold_ids_, predicted_ids_, static_cast<int64_t>(labels_.size()));
    nlohmann::json out = class_report_json(words, labels_);
    out["precision"] = s.precision;
    out["recall"] = s.recall;
    out["f1"] = s.f1;
    out["accuracy"] = s.accuracy;
    out["entities"] = s.gold_entities;
    out["predicted_entities"] = s.predicted_entities;
    out["correct_entities"] = s.correct_entities;
    nlohmann::json types = nlohmann::json::object();
    for (const auto& [type, t] : s.per_type)
      types[type] = {
          {"precision", t.precision}, {"recall", t.recall}, {"f1", t.f1}, {"support", t.support}};
    out["entity_types"] = types;
    out["macro_f1"] = words.macro_f1;
    out["loss"] = loss_.mean();
    out["examples"] = gold_.size();
    out["words"] = gold_ids_.size();
    return out;
  }

 private:
  std::vector<std::string> labels_;
  int64_t outside_ = -1;  // the id of "O", what a truncated word is predicted as
  std::vector<std::vector<std::string>> gold_, predicted_;
  std::vector<int64_t> gold_ids_, predicted_ids_;
  LossMean loss_;
};

class TokenClassificationTask : public TextClassificationTask {
 public:
  TokenClassificationTask() : TextClassificationTask(TextTask::TokenClassification) {}
  std::string name() const override { return "token-classification"; }
  std::string summary() const override {
    return "one label per word (BIO tags: keyphrases, entities); seqeval entity F1";
  }
  std::vector<std::string> selection_metrics() const override {
    return {"f1", "precision", "recall", "accuracy"};
  }
  data::FieldMap default_fields() const override {
    data::FieldMap f;
    f.text = "tokens";
    f.label = "bio_tags";
    return f;
  }
  std::unique_ptr<Evaluation> evaluation(const TaskSetup& setup) const override {
    return std::make_unique<TagEvaluation>(setup.labels);
  }
  std::unique_ptr<Predictor> predictor(const TaskSetup& setup,
                                       const nlohmann::json& options) const override {
    return make_token_classification_predictor(setup, options);
  }
};

KILN_TASK(TokenClassificationTask);

}  // namespace
}  // namespace kiln::train
