// sequence-classification: one label per text (or text pair): topics, sentiment, fake news;
// evaluated with accuracy and macro-F1. `kiln classify` predicts with it.
#include "core/ops.h"
#include "train/metrics.h"
#include "train/predictors.h"
#include "train/text_classification_task.h"

namespace kiln::train {
namespace {

class ClassEvaluation : public Evaluation {
 public:
  void add(const nn::NamedTensors& outputs, const TaskData& data,
           const std::vector<size_t>& indices) override {
    const auto& ex = dynamic_cast<const LabelledTextData&>(data).examples;
    const std::vector<int64_t> p = argmax(outputs.at("logits"), -1).contiguous().to_ints();
    for (size_t r = 0; r < indices.size(); ++r) {
      gold_.push_back(ex[indices[r]].labels[0]);
      predicted_.push_back(p[r]);
    }
  }

  nlohmann::json metrics() const override {
    const ClassScores s = class_scores(gold_, predicted_);
    return {{"accuracy", s.accuracy}, {"macro_f1", s.macro_f1}};
  }

 private:
  std::vector<int64_t> gold_, predicted_;
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
  std::unique_ptr<Evaluation> evaluation(const TaskSetup&) const override {
    return std::make_unique<ClassEvaluation>();
  }
  std::unique_ptr<Predictor> predictor(const TaskSetup& setup,
                                       const nlohmann::json& options) const override {
    return make_sequence_classification_predictor(setup, options);
  }
};

KILN_TASK(SequenceClassificationTask);

}  // namespace
}  // namespace kiln::train
