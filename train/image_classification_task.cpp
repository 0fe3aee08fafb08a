// image-classification: one label per image, per image + metadata record (the fusion model), or
// per metadata record alone (the metadata MLP); which of them a model takes comes from its
// config (train/image_inputs.h). Training inputs are augmented (random resized crop and flips at
// the model's input size, seeded by (seed, epoch, example) so a resumed run sees the same
// images); evaluation resizes (and centre-crops, with the config's crop_pct). Metrics: balanced
// accuracy (the mean per-class recall, HAM10000's headline), accuracy and macro-F1, with the loss,
// per-class scores and the confusion matrix. `kiln classify` predicts with it.
#include <algorithm>
#include <filesystem>

#include "core/ops.h"
#include "core/thread_pool.h"
#include "data/image_augment.h"
#include "data/prefetch_loader.h"
#include "train/evaluate.h"
#include "train/image_classification_data.h"
#include "train/image_classification_predictor.h"
#include "train/metrics.h"
#include "train/text_classification_task.h"

namespace kiln::train {
namespace {

const ImageClassificationData& cast(const TaskData& data) {
  const auto* d = dynamic_cast<const ImageClassificationData*>(&data);
  KILN_CHECK(d != nullptr, "task data of another task given to image classification");
  return *d;
}

// Mean recall over the classes present in gold, as sklearn's balanced_accuracy_score.
double balanced_accuracy(const ClassReport& r) {
  double sum = 0;
  int64_t present = 0;
  for (const Score& s : r.per_class) {
    if (s.support == 0) continue;
    sum += s.recall;
    ++present;
  }
  return present > 0 ? sum / static_cast<double>(present) : 0.0;
}

class ImageClassEvaluation : public Evaluation {
 public:
  explicit ImageClassEvaluation(std::vector<std::string> labels) : labels_(std::move(labels)) {}

  void add(const nn::NamedTensors& outputs, const TaskData& data,
           const std::vector<size_t>& indices) override {
    const auto& d = cast(data);
    const Tensor& logits = outputs.at("logits");
    const std::vector<int64_t> p = argmax(logits, -1).contiguous().to_ints();
    std::vector<int64_t> targets;
    for (size_t r = 0; r < indices.size(); ++r) {
      targets.push_back(d.labels[indices[r]]);
      gold_.push_back(targets.back());
      predicted_.push_back(p[r]);
    }
    loss_.add(logits, targets);
  }

  nlohmann::json metrics() const override {
    const ClassReport r = class_report(gold_, predicted_, static_cast<int64_t>(labels_.size()));
    nlohmann::json out = class_report_json(r, labels_);
    out["balanced_accuracy"] = balanced_accuracy(r);
    out["accuracy"] = r.accuracy;
    out["macro_f1"] = r.macro_f1;
    out["loss"] = loss_.mean();
    out["examples"] = gold_.size();
    return out;
  }

 private:
  std::vector<std::string> labels_;
  std::vector<int64_t> gold_, predicted_;
  LossMean loss_;
};

class ImageClassificationTask : public Task {
 public:
  std::string name() const override { return "image-classification"; }
  std::string summary() const override {
    return "one label per image, image + metadata, or metadata record; balanced accuracy, "
           "accuracy, macro-F1";
  }
  std::vector<std::string> selection_metrics() const override {
    return {"balanced_accuracy", "accuracy", "macro_f1"};
  }
  data::FieldMap default_fields() const override { return data::FieldMap{}; }
  bool needs_tokenizer() const override { return false; }

  std::vector<TaskFlag> flags() const override {
    return {
        {"image-field", "record field holding the image path", "image", true},
        {"image-dir", "directory relative image paths are under (default: the data file's)", "",
         false, true},
        {"metadata-fields",
         "metadata fields of a model that takes metadata, e.g. age,sex,localization: the first "
         "numeric (standardised, with a missing flag), the others categorical (one-hot); the "
         "encoding is learned from --train and stored in the model",
         "", false},
        {"group-field",
         "with --eval-split: rows sharing this field's value (lesion_id) stay on one side", "",
         false},
        {"crop-scale",
         "training augmentation: RandomResizedCrop's smallest area fraction (0: resize the whole "
         "image instead)",
         "0.08", true},
        {"hflip", "training augmentation: horizontal flip probability", "0.5", true},
        {"vflip", "training augmentation: vertical flip probability", "0", true},
        {"image-cache-mb",
         "decoded images kept in memory after their first use, in MiB per data file (0: decode "
         "every time); "
         "resident memory grows by each new image's RGB bytes up to this budget",
         "1024", true},
    };
  }

  std::unique_ptr<TaskData> read(const std::string& path, const TaskSetup& setup) const override {
    return read_image_rows(path, setup.fields.label, ImageTaskOptions::from(setup.task_options),
                           setup.format);
  }

  std::vector<std::string> labels_from_data(const TaskData& data) const override {
    return image_labels_from_rows(cast(data));
  }

  nlohmann::json configure_model(const nlohmann::json& config, const TaskData& train,
                                 const TaskSetup& setup, bool fresh_head) const override {
    const ImageTaskOptions o = ImageTaskOptions::from(setup.task_options);
    if (o.metadata_fields.empty()) return config;
    const nn::MetadataEncoding learned = learn_metadata_encoding(cast(train), o.metadata_fields);
    if (!fresh_head) {
      // Fine-tuning a trained head: the data must use the model's fields (and its encoding).
      KILN_CHECK(config.contains("metadata_encoding"),
                 "--metadata-fields: the model takes no metadata");
      const auto mine = metadata_fields(
          nn::MetadataEncoding::from_json(config["metadata_encoding"], "the model's config"));
      KILN_CHECK(mine == o.metadata_fields,
                 "--metadata-fields differs from the fields of the model's metadata encoding; "
                 "pass --reinit-head to learn a new encoding");
      return config;
    }
    nlohmann::json out = config;
    out["metadata_encoding"] = learned.to_json();
    out["meta_dim"] = learned.size();
    return out;
  }

  std::unique_ptr<TaskData> split(TaskData& data, double fraction, uint64_t seed,
                                  const TaskSetup& /*setup*/) const override {
    auto& d = const_cast<ImageClassificationData&>(cast(data));
    return split_image_rows(d, fraction, seed);
  }

  void encode(TaskData& data, const TaskSetup& setup) const override {
    auto& d = const_cast<ImageClassificationData&>(cast(data));
    const ImageTaskOptions o = ImageTaskOptions::from(setup.task_options);
    d.inputs = ImageInputs::from_config(setup.model_config, setup.spec, "the model's config");
    KILN_CHECK(o.metadata_fields.empty() || d.inputs.metadata, "--metadata-fields: the ",
               setup.spec.architecture, " takes no metadata");
    std::map<std::string, int64_t> ids;
    for (size_t i = 0; i < setup.labels.size(); ++i) ids[setup.labels[i]] = static_cast<int64_t>(i);
    d.labels.clear();
    d.image_paths.clear();
    d.metadata.clear();
    for (size_t i = 0; i < d.rows.size(); ++i) {
      const ImageRow& r = d.rows[i];
      const auto it = ids.find(r.label);
      if (it == ids.end()) {
        std::string list;
        for (const auto& l : setup.labels) list += (list.empty() ? "" : ", ") + l;
        throw Error(d.where(i) + "label '" + r.label + "' is not among the model's labels (" +
                    list + ")");
      }
      d.labels.push_back(it->second);
      if (d.inputs.images) {
        const auto f = r.fields.find(o.image_field);
        KILN_CHECK(f != r.fields.end(), d.where(i), "missing field \"", o.image_field,
                   "\" (the image; --image-field names another)");
        KILN_CHECK(f->is_string() && !f->get<std::string>().empty(), d.where(i), "field \"",
                   o.image_field, "\" must be a non-empty image path");
        const std::string p = resolve_image_path(f->get<std::string>(), o.image_dir, d.path);
        std::error_code ec;
        KILN_CHECK(std::filesystem::is_regular_file(p, ec), d.where(i), "field \"", o.image_field,
                   "\": image file '", p, "' not found");
        d.image_paths.push_back(p);
      }
      if (d.inputs.metadata)
        d.metadata.push_back(encode_metadata(d.inputs.encoding, r.fields, d.where(i)));
    }
  }

  Batch collate(const TaskData& data, const std::vector<size_t>& indices,
                const TaskSetup& setup) const override {
    return make_batch(cast(data), indices, setup, nullptr);
  }

  Batch collate_for_training(const TaskData& data, const std::vector<size_t>& indices,
                             const TaskSetup& setup, const TrainingStep& step) const override {
    return make_batch(cast(data), indices, setup, &step);
  }

  std::vector<int64_t> target_counts(const TaskData& data, int64_t num_labels) const override {
    std::vector<int64_t> counts(num_labels, 0);
    for (int64_t t : cast(data).labels) ++counts.at(t);
    return counts;
  }

  double target_weight(const TaskData& data, const std::vector<size_t>& indices,
                       const LossOptions& options) const override {
    const auto& labels = cast(data).labels;
    // Class weights enter the loss as f32 (the dtype of the logits): sum them as such.
    std::vector<float> w(options.class_weights.begin(), options.class_weights.end());
    double total = 0;
    for (size_t i : indices) total += w.empty() ? 1.0 : w[labels[i]];
    return total;
  }

  Tensor loss(const nn::NamedTensors& outputs, const Batch& batch,
              const LossOptions& options) const override {
    return classification_loss(outputs, batch.targets, options);
  }

  std::unique_ptr<Evaluation> evaluation(const TaskSetup& setup) const override {
    return std::make_unique<ImageClassEvaluation>(setup.labels);
  }

  std::unique_ptr<Predictor> predictor(const TaskSetup& setup,
                                       const nlohmann::json& options) const override {
    return make_image_classification_predictor(setup, options);
  }

 private:
  // pixel_values (training: augmented with `step`'s seed and epoch; else the eval transform),
  // metadata and targets of `indices`.
  static Batch make_batch(const ImageClassificationData& d, const std::vector<size_t>& indices,
                          const TaskSetup& setup, const TrainingStep* step) {
    Batch out;
    const auto b = static_cast<int64_t>(indices.size());
    std::vector<int64_t> targets;
    for (size_t i : indices) targets.push_back(d.labels.at(i));
    out.targets = Tensor::from_ints(targets, {b});
    out.tokens = b;
    if (d.inputs.images) {
      const ImageTaskOptions o = ImageTaskOptions::from(setup.task_options);
      data::Augmentation aug;
      aug.size = d.inputs.size();
      aug.random_resized_crop = o.crop_scale_min > 0;
      // --crop-scale 0 means no crop at all: the scale then keeps its valid default, which
      // check_augmentation still validates (0 is not a valid RandomResizedCrop scale).
      if (aug.random_resized_crop) aug.scale = {o.crop_scale_min, 1.0};
      aug.horizontal_flip = o.hflip;
      aug.vertical_flip = o.vflip;
      const data::EvalPreprocess eval = d.inputs.eval_preprocess();
      const data::Normalization norm = d.inputs.normalization();
      // Each example is a pure function of (seed, epoch, index), so loading on other threads
      // changes when an image is ready, never what it is.
      auto load = [&](int64_t k) {
        const size_t i = indices[static_cast<size_t>(k)];
        const auto img = d.image(i);
        try {
          if (step)
            return data::image_to_tensor(
                data::augment(*img, aug, data::ExampleRng(step->seed + 3, step->epoch, i)), norm);
          return data::image_to_tensor(data::preprocess_for_eval(*img, eval), norm);
        } catch (const Error& e) {
          throw Error(d.where(i) + d.image_paths[i] + ": " + e.what());
        }
      };
      const int threads = std::min<int>(num_threads() > 1 ? num_threads() : 0, static_cast<int>(b));
      data::PrefetchLoader loader(b, load, threads, b);
      const int64_t per = 3 * aug.size.height * aug.size.width;
      std::vector<float> pixels;
      pixels.reserve(static_cast<size_t>(b * per));
      for (int64_t k = 0; k < b; ++k) {
        const std::vector<float> x = loader.next().to_floats();
        pixels.insert(pixels.end(), x.begin(), x.end());
      }
      out.inputs["pixel_values"] =
          Tensor::from_floats(pixels, {b, 3, aug.size.height, aug.size.width});
    }
    if (d.inputs.metadata) {
      const auto dim = d.inputs.encoding.size();
      std::vector<float> m;
      for (size_t i : indices) m.insert(m.end(), d.metadata.at(i).begin(), d.metadata.at(i).end());
      out.inputs["metadata"] = Tensor::from_floats(m, {b, dim});
    }
    return out;
  }
};

KILN_TASK(ImageClassificationTask);

}  // namespace
}  // namespace kiln::train
