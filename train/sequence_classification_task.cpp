// sequence-classification: one label per text (or text pair): topics, sentiment, fake news;
// evaluated with accuracy and macro-F1 (plus loss, per-class scores and the confusion matrix).
// `kiln classify` predicts with it.
#include "core/ops.h"
#include "train/evaluate.h"
#include "train/metrics.h"
#include "train/predictors.h"
#include "train/text_classification_task.h"

namespace kiln::train {
namespace {

// Accuracy and macro-F1 (the selection metrics), the mean loss, per-class scores and the
// confusion matrix, by the head's label names.
class ClassEvaluation : public Evaluation {
 public:
  explicit ClassEvaluation(std::vector<std::string> labels) : labels_(std::move(labels)) {}

  void add(const nn::NamedTensors& outputs, const TaskData& data,
           const std::vector<size_t>& indices) override {
    const auto& ex = dynamic_cast<const LabelledTextData&>(data).examples;
    const Tensor& logits = outputs.at("logits");
    const std::vector<int64_t> p = argmax(logits, -1).contiguous().to_ints();
    std::vector<int64_t> targets;
    for (size_t r = 0; r < indices.size(); ++r) {
      targets.push_back(ex[indices[r]].labels[0]);
      gold_.push_back(targets.back());
      predicted_.push_back(p[r]);
    }
    loss_.add(logits, targets);
  }

  nlohmann::json metrics() const override {
    const auto n = static_cast<int64_t>(labels_.size());
    const ClassReport r = class_report(gold_, predicted_, n);
    nlohmann::json out = class_report_json(r, labels_);
    out["accuracy"] = r.accuracy;
    out["macro_f1"] = class_scores(gold_, predicted_).macro_f1;
    out["loss"] = loss_.mean();
    out["examples"] = gold_.size();
    return out;
  }

 private:
  std::vector<std::string> labels_;
  std::vector<int64_t> gold_, predicted_;
  LossMean loss_;
};

class SequenceClassificationTask : public TextClassificationTask {
 public:
  SequenceClassificationTask() : TextClassificationTask(TextTask::SequenceClassification) {}
  std::string name() const override { return "sequence-classification"; }
  std::string summary() const override {
    return "one label per text or text pair (topics, sentiment); accuracy and macro-F1";
  }
  std::vector<std::string> selection_metrics() const override { return {"accuracy", "macro_f1"}; }
  data::FieldMap default_fields() const override { return data::FieldMap{}; }
  std::unique_ptr<Evaluation> evaluation(const TaskSetup& setup) const override {
    return std::make_unique<ClassEvaluation>(setup.labels);
  }
  std::unique_ptr<Predictor> predictor(const TaskSetup& setup,
                                       const nlohmann::json& options) const override {
    return make_sequence_classification_predictor(setup, options);
  }
};

KILN_TASK(SequenceClassificationTask);

}  // namespace
}  // namespace kiln::train
