#include "train/evaluate.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace kiln::train {

nlohmann::json class_report_json(const ClassReport& report,
                                 const std::vector<std::string>& labels) {
  KILN_CHECK(report.per_class.size() == labels.size(), "class report of ", report.per_class.size(),
             " classes for ", labels.size(), " labels");
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t c = 0; c < labels.size(); ++c) {
    const Score& s = report.per_class[c];
    per_class[labels[c]] = {
        {"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"support", s.support}};
  }
  return {{"labels", labels}, {"per_class", per_class}, {"confusion_matrix", report.confusion}};
}

void LossMean::add(const Tensor& logits, const std::vector<int64_t>& targets) {
  const int64_t classes = logits.size(-1);
  const Tensor rows = reshape(logits, {-1, classes});
  KILN_CHECK(rows.size(0) == static_cast<int64_t>(targets.size()), "loss over ", rows.size(0),
             " rows of logits but ", targets.size(), " targets");
  CrossEntropyOptions ce;
  ce.reduction = Reduction::Sum;
  const Tensor t = Tensor::from_ints(targets, {static_cast<int64_t>(targets.size())});
  sum_ += cross_entropy(rows, t, ce).item();
  count_ += static_cast<int64_t>(
      std::count_if(targets.begin(), targets.end(), [](int64_t v) { return v != kIgnoreLabel; }));
}

nlohmann::json evaluate(nn::Model& model, const Task& task, const TaskSetup& setup,
                        const TaskData& data, size_t batch_size) {
  KILN_CHECK(batch_size > 0, "evaluation batch size must be at least 1");
  const bool was_training = model.training();
  model.eval();
  NoGradGuard no_grad;
  auto evaluation = task.evaluation(setup);
  for (size_t start = 0; start < data.size(); start += batch_size) {
    std::vector<size_t> idx;
    for (size_t i = start; i < std::min(data.size(), start + batch_size); ++i) idx.push_back(i);
    const Batch b = task.collate(data, idx, setup);
    evaluation->add_batch(model, b, data, idx);
  }
  model.train(was_training);
  return evaluation->metrics();
}

}  // namespace kiln::train
