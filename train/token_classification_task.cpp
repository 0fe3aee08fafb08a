// token-classification: one label per word (BIO/IOB2 tags such as keyphrases or entities), scored
// on each word's first sub-token, evaluated with seqeval's entity F1. `kiln tag` predicts with it.
#include "core/ops.h"
#include "train/metrics.h"
#include "train/predictors.h"
#include "train/text_classification_task.h"

namespace kiln::train {
namespace {

class TagEvaluation : public Evaluation {
 public:
  explicit TagEvaluation(std::vector<std::string> labels) : labels_(std::move(labels)) {}

  void add(const nn::NamedTensors& outputs, const TaskData& data,
           const std::vector<size_t>& indices) override {
    const auto& ex = dynamic_cast<const LabelledTextData&>(data).examples;
    const Tensor& logits = outputs.at("logits");
    const std::vector<int64_t> p = argmax(logits, -1).contiguous().to_ints();
    const int64_t len = logits.size(1);
    for (size_t r = 0; r < indices.size(); ++r) {
      const Example& e = ex[indices[r]];
      std::vector<std::string> g, q;
      for (size_t w = 0; w < e.word_labels.size(); ++w) {
        g.push_back(labels_[e.word_labels[w]]);
        // A word cut off by truncation gets no prediction; `kiln tag` reports it as "O".
        q.push_back(e.word_tokens[w] < 0 ? "O" : labels_[p[r * len + e.word_tokens[w]]]);
      }
      gold_.push_back(std::move(g));
      predicted_.push_back(std::move(q));
    }
  }

  nlohmann::json metrics() const override {
    const EntityScores s = entity_scores(gold_, predicted_);
    return {{"precision", s.precision},
            {"recall", s.recall},
            {"f1", s.f1},
            {"accuracy", s.accuracy},
            {"entities", s.gold_entities}};
  }

 private:
  std::vector<std::string> labels_;
  std::vector<std::vector<std::string>> gold_, predicted_;
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
