#include "train/image_classification_predictor.h"

#include <filesystem>

#include "core/ops.h"
#include "train/image_inputs.h"
#include "train/label_probs.h"
#include "train/pass_through.h"

namespace kiln::train {
namespace {

class ImageClassificationPredictor : public Predictor {
 public:
  ImageClassificationPredictor(const TaskSetup& setup, const nlohmann::json& options)
      : spec_(setup.spec),
        inputs_(ImageInputs::from_config(setup.model_config, setup.spec, "the model's config")) {
    KILN_CHECK(!spec_.labels.empty(), "the model has no labels for its head");
    probs_ = options.value("probs", false);
    image_field_ = options.value("image_field", std::string("image"));
    metadata_field_ = options.value("metadata_field", std::string("metadata"));
    image_dir_ = options.value("image_dir", std::string());
  }

  std::vector<nn::NamedTensors> inputs(const data::Record& record) override {
    nn::NamedTensors in;
    if (inputs_.images) {
      const std::string given = record.string_field(image_field_);
      KILN_CHECK(!given.empty(), record.where(), "field \"", image_field_, "\" is empty");
      const std::string source = record.source == "<stdin>" ? "" : record.source;
      const std::string path = resolve_image_path(given, image_dir_, source);
      std::error_code ec;
      KILN_CHECK(std::filesystem::is_regular_file(path, ec), record.where(), "field \"",
                 image_field_, "\": image file '", path, "' not found");
      try {
        in["pixel_values"] =
            data::load_eval_example(path, inputs_.eval_preprocess(), inputs_.normalization());
      } catch (const Error& e) {
        throw Error(record.where() + e.what());
      }
    }
    if (inputs_.metadata) {
      const auto it = record.fields.find(metadata_field_);
      const nlohmann::json& fields = it != record.fields.end() ? *it : record.fields;
      const std::vector<float> m = encode_metadata(
          inputs_.encoding, fields,
          record.where() + (it != record.fields.end() ? metadata_field_ + ": " : ""));
      in["metadata"] = Tensor::from_floats(m, {static_cast<int64_t>(m.size())});
    }
    return {in};
  }

  nlohmann::ordered_json format(const data::Record& record,
                                const std::vector<nn::NamedTensors>& outputs) override {
    const auto& labels = spec_.labels;
    const std::vector<float> probs = class_probabilities(record, outputs, labels);
    const size_t best = argmax_label(probs);
    nlohmann::ordered_json out;
    std::vector<std::string> consumed;
    if (inputs_.images) {
      out["image"] = record.string_field(image_field_);
      consumed.push_back(image_field_);
    }
    out["label"] = labels[best];
    out["score"] = probs[best];
    if (probs_) out["probs"] = label_probs(labels, probs);
    return with_input_fields(record, consumed, std::move(out));
  }

 private:
  nn::ModelSpec spec_;
  ImageInputs inputs_;
  bool probs_ = false;
  std::string image_field_, metadata_field_, image_dir_;
};

}  // namespace

std::unique_ptr<Predictor> make_image_classification_predictor(const TaskSetup& setup,
                                                               const nlohmann::json& options) {
  return std::make_unique<ImageClassificationPredictor>(setup, options);
}

}  // namespace kiln::train
