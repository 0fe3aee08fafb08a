// `kiln classify`'s predictor: one label (with its probability) per text or text pair, the text
// truncated to the model's length as Hugging Face's pipeline truncates it.
#include "core/ops.h"
#include "train/label_probs.h"
#include "train/pass_through.h"
#include "train/predictors.h"

namespace kiln::train {
namespace {

class SequenceClassificationPredictor : public Predictor {
 public:
  SequenceClassificationPredictor(const TaskSetup& setup, const nlohmann::json& options)
      : spec_(setup.spec), fields_(setup.fields) {
    KILN_CHECK(setup.tokenizer, "sequence classification needs the model's tokenizer");
    KILN_CHECK(!spec_.labels.empty(), "the model has no labels (id2label) for its head");
    KILN_CHECK(spec_.max_tokens > 0, "the model has no maximum input length");
    probs_ = options.value("probs", false);
    // A copy (sharing the vocabulary) with this model's truncation, so the caller's is untouched.
    // Each record is encoded alone, so tokenizer padding would only add tokens: it is switched off.
    tokenizer_.emplace(*setup.tokenizer);
    tok::TruncationParams trunc;
    trunc.max_length = static_cast<size_t>(spec_.max_tokens);
    tokenizer_->set_truncation(trunc);
    tokenizer_->set_padding(std::nullopt);
    for (const auto& n : spec_.input_names) accepts_token_types_ |= n == "token_type_ids";
  }

  std::vector<nn::NamedTensors> inputs(const data::Record& record) override {
    const std::string text = record.string_field(fields_.text);
    tok::Encoding e;
    try {
      e = record.has(fields_.pair)
              ? tokenizer_->encode_pair(text, record.string_field(fields_.pair))
              : tokenizer_->encode(text);
    } catch (const Error& err) {
      throw Error(record.where() + err.what());
    }
    const int64_t n = static_cast<int64_t>(e.size());
    std::vector<int64_t> ids(e.ids.begin(), e.ids.end());
    nn::NamedTensors in;
    in["input_ids"] = Tensor::from_ints(ids, {n});
    in["attention_mask"] = Tensor::from_ints(std::vector<int64_t>(e.size(), 1), {n});
    if (accepts_token_types_) {
      std::vector<int64_t> types(e.type_ids.begin(), e.type_ids.end());
      in["token_type_ids"] = Tensor::from_ints(types, {n});
    }
    return {in};
  }

  nlohmann::ordered_json format(const data::Record& record,
                                const std::vector<nn::NamedTensors>& outputs) override {
    const auto& labels = spec_.labels;
    const std::vector<float> probs = class_probabilities(record, outputs, labels);
    const size_t best = argmax_label(probs);
    nlohmann::ordered_json out;
    out["text"] = record.string_field(fields_.text);
    std::vector<std::string> consumed = {fields_.text};
    if (record.has(fields_.pair)) {
      out["pair"] = record.string_field(fields_.pair);
      consumed.push_back(fields_.pair);
    }
    out["label"] = labels[best];
    out["score"] = probs[best];
    if (probs_) out["probs"] = label_probs(labels, probs);
    return with_input_fields(record, consumed, std::move(out));
  }

 private:
  nn::ModelSpec spec_;
  data::FieldMap fields_;
  std::optional<tok::Tokenizer> tokenizer_;
  bool probs_ = false;
  bool accepts_token_types_ = false;
};

}  // namespace

std::unique_ptr<Predictor> make_sequence_classification_predictor(const TaskSetup& setup,
                                                                  const nlohmann::json& options) {
  return std::make_unique<SequenceClassificationPredictor>(setup, options);
}

}  // namespace kiln::train
