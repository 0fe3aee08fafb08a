// What token classification (tagging) and sequence classification share: labelled text read and
// encoded by train/data.h, batches of padded token ids, and a (weighted, smoothed) cross-entropy
// over the scored targets. Each task adds its metrics, default fields and predictor.
#pragma once

#include "train/data.h"
#include "train/task.h"

namespace kiln::train {

// The summed (optionally class-weighted, label-smoothed) cross-entropy of a classification head's
// "logits" [..., labels] against flat targets: every classification task's loss.
Tensor classification_loss(const nn::NamedTensors& outputs, const Tensor& targets,
                           const LossOptions& options);

class LabelledTextData : public TaskData {
 public:
  RawData raw;
  std::vector<Example> examples;  // filled by encode()

  size_t size() const override { return examples.empty() ? raw.rows.size() : examples.size(); }
  int64_t tokens(size_t i) const override { return static_cast<int64_t>(examples[i].ids.size()); }
};

class TextClassificationTask : public Task {
 public:
  explicit TextClassificationTask(TextTask kind) : kind_(kind) {}

  std::unique_ptr<TaskData> read(const std::string& path, const TaskSetup& setup) const override;
  std::vector<std::string> labels_from_data(const TaskData& data) const override;
  void encode(TaskData& data, const TaskSetup& setup) const override;
  Batch collate(const TaskData& data, const std::vector<size_t>& indices,
                const TaskSetup& setup) const override;
  std::vector<int64_t> target_counts(const TaskData& data, int64_t num_labels) const override;
  double target_weight(const TaskData& data, const std::vector<size_t>& indices,
                       const LossOptions& options) const override;
  Tensor loss(const nn::NamedTensors& outputs, const Batch& batch,
              const LossOptions& options) const override;

 protected:
  static const LabelledTextData& cast(const TaskData& data);
  TextTask kind_;
};

}  // namespace kiln::train
