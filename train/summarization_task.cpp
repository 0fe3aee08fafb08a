// Summarization (sequence-to-sequence) as a registered task: rows are a source (text, a document
// group or input_ids, train/summarization_source.h) and a target summary (a string, or a list of
// gold summaries: one training example each, all of them references for ROUGE). Teacher forcing
// as transformers' BART: labels = <s> target </s> (padding -100), decoder_input_ids = labels
// shifted right from decoder_start_token_id. Evaluation reports the teacher-forced loss and the
// ROUGE F-measures (x100, rouge-score with stemming; the best reference per input, as
// rouge-score's score_multi) of what the model generates with setup.generation.
#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/generation.h"
#include "train/evaluate.h"
#include "train/rouge.h"
#include "train/summarization_source.h"
#include "train/task.h"

namespace kiln::train {
namespace {

struct SummarizationExample {
  EncodedSource source;
  std::vector<int64_t> target;  // <s> ... </s>, capped at max_target_length
  std::vector<std::string> references;
};

class SummarizationData : public TaskData {
 public:
  std::vector<data::Record> rows;  // as read; encode() turns them into examples
  std::vector<SummarizationExample> examples;
  size_t size() const override { return examples.empty() ? rows.size() : examples.size(); }
  int64_t tokens(size_t i) const override {
    return static_cast<int64_t>(examples[i].source.ids.size());
  }
};

const SummarizationData& cast(const TaskData& data) {
  const auto* d = dynamic_cast<const SummarizationData*>(&data);
  KILN_CHECK(d != nullptr, "summarization: data of another task");
  return *d;
}

// The gold summaries of a row: one string or a non-empty list of strings.
std::vector<std::string> targets_of(const data::Record& r, const std::string& field) {
  const nlohmann::json& v = r.field(field);
  if (v.is_string()) return {v.get<std::string>()};
  KILN_CHECK(v.is_array() && !v.empty(), r.where(), "field '", field,
             "' must be a summary or a non-empty list of summaries, got ", v.dump().substr(0, 80));
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    KILN_CHECK(v[i].is_string(), r.where(), "field '", field, "' item ", i, " is not a text");
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

int64_t special_id(const nn::ModelSpec& spec, const std::string& name, int64_t fallback) {
  const auto it = spec.special_token_ids.find(name);
  return it == spec.special_token_ids.end() ? fallback : it->second;
}

SourceOptions source_options(const TaskSetup& setup) {
  SourceOptions o;
  o.text_field = setup.fields.text;
  o.k_top_longest = setup.k_top_longest;
  o.max_source_length = setup.max_length;
  o.vocab_size = setup.spec.vocab_size;
  o.doc_sep_id = doc_sep_id(*setup.tokenizer, setup.doc_sep);
  return o;
}

// The rows of a document group split into groups of at most n documents (in order).
std::vector<data::Record> split_group(const data::Record& r, int64_t n) {
  for (const char* field : {"reviews", "documents"}) {
    if (!r.has(field) || !r.fields[field].is_array()) continue;
    const nlohmann::json& docs = r.fields[field];
    if (static_cast<int64_t>(docs.size()) <= n) break;
    std::vector<data::Record> parts;
    for (size_t start = 0; start < docs.size(); start += static_cast<size_t>(n)) {
      data::Record part = r;
      part.fields[field] = nlohmann::json::array();
      for (size_t i = start; i < std::min(docs.size(), start + static_cast<size_t>(n)); ++i)
        part.fields[field].push_back(docs[i]);
      parts.push_back(std::move(part));
    }
    return parts;
  }
  return {r};
}

class SummarizationEvaluation : public Evaluation {
 public:
  explicit SummarizationEvaluation(const TaskSetup& setup) : setup_(setup) {}

  void add(const nn::NamedTensors& outputs, const TaskData&, const std::vector<size_t>&) override {
    throw Error("summarization: evaluation needs the model to generate (add_batch)");
  }

  void add_batch(const nn::Model& model, const Batch& batch, const TaskData& data,
                 const std::vector<size_t>& indices) override {
    const nn::NamedTensors out = model.forward(batch.inputs);
    loss_.add(out.at("logits"), batch.targets.to_ints());
    const auto* lm = dynamic_cast<const nn::Seq2SeqLM*>(&model);
    KILN_CHECK(lm != nullptr, "summarization: the model cannot generate");
    nn::NamedTensors inputs = batch.inputs;
    inputs.erase("decoder_input_ids");
    const auto generated = nn::generate(*lm, inputs, setup_.generation);
    const SummarizationData& d = cast(data);
    for (size_t i = 0; i < indices.size(); ++i) {
      const auto& g = generated[i].front();
      const std::string prediction = decode_summary(*setup_.tokenizer, g.ids);
      gen_len_ += static_cast<double>(g.ids.size());
      // rouge-score's score_multi: for each ROUGE type, the reference with the best F-measure.
      RougeScores best;
      bool first = true;
      for (const auto& ref : d.examples[indices[i]].references) {
        const RougeScores s = rouge_score(prediction, ref, /*use_stemmer=*/true);
        auto keep = [&](RougeScore& b, const RougeScore& x) {
          if (first || x.fmeasure > b.fmeasure) b = x;
        };
        keep(best.rouge1, s.rouge1);
        keep(best.rouge2, s.rouge2);
        keep(best.rougeL, s.rougeL);
        keep(best.rougeLsum, s.rougeLsum);
        first = false;
      }
      rouge_.add(best);
    }
  }

  nlohmann::json metrics() const override {
    const RougeScores m = rouge_.mean();
    const double n = static_cast<double>(std::max<size_t>(1, rouge_.count()));
    return {{"loss", loss_.mean()},
            {"rouge1", 100 * m.rouge1.fmeasure},
            {"rouge2", 100 * m.rouge2.fmeasure},
            {"rougeL", 100 * m.rougeL.fmeasure},
            {"rougeLsum", 100 * m.rougeLsum.fmeasure},
            {"gen_len", gen_len_ / n},
            {"examples", rouge_.count()}};
  }

 private:
  const TaskSetup& setup_;
  LossMean loss_;
  RougeMean rouge_;
  double gen_len_ = 0;
};

class SummarizationTask : public Task {
 public:
  std::string name() const override { return "summarization"; }
  std::string summary() const override {
    return "text or document group -> summary (encoder-decoder, teacher forcing; eval: ROUGE "
           "of generated summaries)";
  }
  std::vector<std::string> selection_metrics() const override {
    return {"rougeLsum", "rouge1", "rouge2", "rougeL"};
  }
  bool generates() const override { return true; }
  data::FieldMap default_fields() const override {
    data::FieldMap f;
    f.text = "text";
    f.label = "summary";
    return f;
  }

  std::unique_ptr<TaskData> read(const std::string& path, const TaskSetup& setup) const override {
    auto data = std::make_unique<SummarizationData>();
    data->path = path;
    auto reader = data::RecordReader::open(path, setup.format);
    while (auto r = reader->next()) {
      const bool has_source = r->has(setup.fields.text) || r->has("reviews") ||
                              r->has("documents") || r->has("input_ids");
      KILN_CHECK(has_source, r->where(), "no source: give field '", setup.fields.text,
                 "', 'reviews', 'documents' or 'input_ids'");
      targets_of(*r, setup.fields.label);  // checked now, used by encode()
      data->rows.push_back(std::move(*r));
    }
    KILN_CHECK(!data->rows.empty(), path, ": no examples");
    return data;
  }

  std::vector<std::string> labels_from_data(const TaskData&) const override { return {}; }

  void encode(TaskData& data, const TaskSetup& setup) const override {
    auto& d = dynamic_cast<SummarizationData&>(data);
    KILN_CHECK(setup.tokenizer != nullptr, "summarization needs a tokenizer");
    const SourceOptions o = source_options(setup);
    d.examples.clear();
    for (const data::Record& row : d.rows) {
      const std::vector<std::string> targets = targets_of(row, setup.fields.label);
      const auto groups = setup.max_docs_per_group > 0 ? split_group(row, setup.max_docs_per_group)
                                                       : std::vector<data::Record>{row};
      for (const data::Record& part : groups) {
        const EncodedSource source = encode_source(part, *setup.tokenizer, o);
        for (const std::string& t : targets) {
          SummarizationExample e{source, {}, targets};
          const tok::Encoding enc = setup.tokenizer->encode(t, true);
          e.target.assign(enc.ids.begin(), enc.ids.end());
          KILN_CHECK(e.target.size() >= 2, row.where(), "field '", setup.fields.label,
                     "': an empty summary");
          if (static_cast<int64_t>(e.target.size()) > setup.max_target_length) {
            const int64_t last = e.target.back();  // keep </s>
            e.target.resize(static_cast<size_t>(setup.max_target_length));
            e.target.back() = last;
          }
          d.examples.push_back(std::move(e));
        }
      }
    }
    d.rows.clear();
    d.rows.shrink_to_fit();
  }

  Batch collate(const TaskData& data, const std::vector<size_t>& indices,
                const TaskSetup& setup) const override {
    const SummarizationData& d = cast(data);
    const int64_t start = special_id(setup.spec, "decoder_start_token_id", 2);
    std::vector<const EncodedSource*> sources;
    size_t lt = 0;
    for (size_t i : indices) {
      sources.push_back(&d.examples[i].source);
      lt = std::max(lt, d.examples[i].target.size());
    }
    const size_t b = indices.size();
    std::vector<int64_t> decoder(b * lt, setup.spec.pad_token_id), labels(b * lt, kIgnoreLabel);
    Batch batch;
    batch.inputs = source_batch(sources, setup.spec);
    for (size_t k = 0; k < b; ++k) {
      const SummarizationExample& e = d.examples[indices[k]];
      // shift_tokens_right of the padded labels: the decoder start, then the labels, so the
      // first padding position reads the final </s> (it predicts an ignored label).
      for (size_t j = 0; j < std::min(e.target.size() + 1, lt); ++j) {
        if (j < e.target.size()) labels[k * lt + j] = e.target[j];
        decoder[k * lt + j] = j == 0 ? start : e.target[j - 1];
      }
      batch.tokens += static_cast<int64_t>(e.source.ids.size());
    }
    const int64_t B = static_cast<int64_t>(b), T = static_cast<int64_t>(lt);
    batch.inputs["decoder_input_ids"] = Tensor::from_ints(decoder, {B, T});
    batch.targets = Tensor::from_ints(labels, {B * T});
    return batch;
  }

  std::vector<int64_t> target_counts(const TaskData&, int64_t) const override {
    throw Error("summarization has no classes to weight (--class-weights)");
  }

  double target_weight(const TaskData& data, const std::vector<size_t>& indices,
                       const LossOptions&) const override {
    const SummarizationData& d = cast(data);
    double n = 0;
    for (size_t i : indices) n += static_cast<double>(d.examples[i].target.size());
    return n;
  }

  Tensor loss(const nn::NamedTensors& outputs, const Batch& batch,
              const LossOptions& options) const override {
    KILN_CHECK(options.class_weights.empty(),
               "summarization has no classes to weight (--class-weights)");
    const Tensor& logits = outputs.at("logits");
    CrossEntropyOptions ce;
    ce.reduction = Reduction::Sum;
    ce.label_smoothing = options.label_smoothing;
    return cross_entropy(reshape(logits, {-1, logits.size(-1)}), batch.targets, ce);
  }

  std::unique_ptr<Evaluation> evaluation(const TaskSetup& setup) const override {
    return std::make_unique<SummarizationEvaluation>(setup);
  }

  std::unique_ptr<Predictor> predictor(const TaskSetup&, const nlohmann::json&) const override {
    throw Error("summarization runs with kiln summarize");
  }
};

KILN_TASK(SummarizationTask);

}  // namespace
}  // namespace kiln::train
