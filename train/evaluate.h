// Scoring a model on labelled data: the loop `kiln eval` runs, and the pieces the tasks'
// Evaluation classes share to report the same set of metrics (loss, accuracy, macro-F1,
// per-class scores, confusion matrix) in `kiln eval` and in training's per-epoch evaluation.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/model.h"
#include "train/metrics.h"
#include "train/task.h"

namespace kiln::train {

// A class report as JSON, by label name: "labels" (the order of the matrix's rows and columns),
// "per_class" {label: {precision, recall, f1, support}}, "confusion_matrix" (rows gold, columns
// predicted).
nlohmann::json class_report_json(const ClassReport& report, const std::vector<std::string>& labels);

// The mean cross-entropy over scored targets, summed over batches: what the training loss is
// with neither class weights nor label smoothing.
class LossMean {
 public:
  // `logits` [..., C] taken as rows aligned with `targets` (kIgnoreLabel: not scored).
  void add(const Tensor& logits, const std::vector<int64_t>& targets);
  double mean() const { return count_ > 0 ? sum_ / static_cast<double>(count_) : 0.0; }
  int64_t count() const { return count_; }

 private:
  double sum_ = 0;
  int64_t count_ = 0;
};

// The task's metrics for `model` on `data` (encoded with `setup`), in batches of `batch_size`
// examples, in eval mode and without gradients; the model's mode is restored afterwards.
nlohmann::json evaluate(nn::Model& model, const Task& task, const TaskSetup& setup,
                        const TaskData& data, size_t batch_size);

}  // namespace kiln::train
