#include "train/text_classification_task.h"

#include <algorithm>

#include "core/error.h"
#include "core/ops.h"

namespace kiln::train {

const LabelledTextData& TextClassificationTask::cast(const TaskData& data) {
  const auto* d = dynamic_cast<const LabelledTextData*>(&data);
  KILN_CHECK(d != nullptr, "task data of another task given to a text classification task");
  return *d;
}

std::unique_ptr<TaskData> TextClassificationTask::read(const std::string& path,
                                                       const TaskSetup& setup) const {
  auto out = std::make_unique<LabelledTextData>();
  out->path = path;
  out->raw = read_rows(path, kind_, setup.fields.text, setup.fields.label, setup.tokenizer,
                       setup.format, setup.word_splitter);
  return out;
}

std::vector<std::string> TextClassificationTask::labels_from_data(const TaskData& data) const {
  return train::labels_from_data(cast(data).raw, kind_);
}

void TextClassificationTask::encode(TaskData& data, const TaskSetup& setup) const {
  auto& d = const_cast<LabelledTextData&>(cast(data));
  KILN_CHECK(setup.tokenizer != nullptr, "this task needs a tokenizer");
  EncodeOptions enc;
  enc.task = kind_;
  enc.max_length = setup.max_length;
  enc.word_prefix_space = setup.spec.word_prefix_space;
  d.examples = encode_examples(d.raw, *setup.tokenizer, setup.labels, enc);
}

Batch TextClassificationTask::collate(const TaskData& data, const std::vector<size_t>& idx,
                                      const TaskSetup& setup) const {
  const auto& ex = cast(data).examples;
  const bool tagging = kind_ == TextTask::TokenClassification;
  int64_t len = 1;
  for (size_t i : idx) len = std::max<int64_t>(len, static_cast<int64_t>(ex[i].ids.size()));
  const int64_t b = static_cast<int64_t>(idx.size());
  std::vector<int64_t> ids(b * len, setup.spec.pad_token_id), mask(b * len, 0), types(b * len, 0);
  std::vector<int64_t> targets(tagging ? b * len : b, kIgnoreLabel);
  Batch out;
  for (int64_t r = 0; r < b; ++r) {
    const Example& e = ex[idx[r]];
    for (size_t t = 0; t < e.ids.size(); ++t) {
      ids[r * len + t] = e.ids[t];
      mask[r * len + t] = 1;
      types[r * len + t] = e.type_ids[t];
      if (tagging) targets[r * len + t] = e.labels[t];
    }
    if (!tagging) targets[r] = e.labels[0];
    out.tokens += static_cast<int64_t>(e.ids.size());
  }
  out.inputs["input_ids"] = Tensor::from_ints(ids, {b, len});
  out.inputs["attention_mask"] = Tensor::from_ints(mask, {b, len});
  const auto& names = setup.spec.input_names;
  if (std::find(names.begin(), names.end(), "token_type_ids") != names.end())
    out.inputs["token_type_ids"] = Tensor::from_ints(types, {b, len});
  out.targets = Tensor::from_ints(targets, {static_cast<int64_t>(targets.size())});
  return out;
}

std::vector<int64_t> TextClassificationTask::target_counts(const TaskData& data,
                                                           int64_t num_labels) const {
  std::vector<int64_t> counts(num_labels, 0);
  for (const auto& e : cast(data).examples)
    for (int64_t t : e.labels)
      if (t != kIgnoreLabel) ++counts[t];
  return counts;
}

double TextClassificationTask::target_weight(const TaskData& data,
                                             const std::vector<size_t>& indices,
                                             const LossOptions& options) const {
  const auto& ex = cast(data).examples;
  // Class weights enter the loss as f32 (the dtype of the logits): sum them as such.
  std::vector<float> w(options.class_weights.begin(), options.class_weights.end());
  double total = 0;
  for (size_t i : indices)
    for (int64_t t : ex[i].labels)
      if (t != kIgnoreLabel) total += w.empty() ? 1.0 : w[t];
  return total;
}

Tensor classification_loss(const nn::NamedTensors& outputs, const Tensor& targets,
                           const LossOptions& options) {
  auto it = outputs.find("logits");
  KILN_CHECK(it != outputs.end(), "the model has no classification head (no logits)");
  const int64_t nl = it->second.size(-1);
  CrossEntropyOptions ce;
  ce.label_smoothing = options.label_smoothing;
  if (!options.class_weights.empty()) {
    KILN_CHECK(static_cast<int64_t>(options.class_weights.size()) == nl, "--class-weights has ",
               options.class_weights.size(), " values but the model has ", nl, " labels");
    ce.class_weights = Tensor::from_vector(options.class_weights, {nl});
  }
  ce.reduction = Reduction::Sum;
  return cross_entropy(it->second.reshape({-1, nl}), targets, ce);
}

Tensor TextClassificationTask::loss(const nn::NamedTensors& outputs, const Batch& batch,
                                    const LossOptions& options) const {
  return classification_loss(outputs, batch.targets, options);
}

}  // namespace kiln::train
