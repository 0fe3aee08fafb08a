#include "tests/plugins/toy_plugins.h"

#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/family.h"
#include "nn/layers.h"
#include "train/metrics.h"
#include "train/task.h"

namespace kiln::toy {
namespace {

class ToyBag : public nn::Model {
 public:
  ToyBag(int64_t vocab, int64_t dim) {
    embedding_ = register_module("embedding", std::make_shared<nn::Embedding>(vocab, dim));
    head_ = register_module("head", std::make_shared<nn::Linear>(dim, 2));
  }
  nn::NamedTensors forward(const nn::NamedTensors& inputs,
                           const nn::ForwardOptions& options) const override {
    nn::check_input_names(inputs, {"input_ids", "attention_mask"}, "toy");
    const Tensor& ids = nn::required_input(inputs, "input_ids");
    Tensor mask = nn::optional_input(inputs, "attention_mask");
    if (!mask.defined())
      mask = Tensor::from_ints(std::vector<int64_t>(ids.numel(), 1), ids.shape());
    const Tensor m = unsqueeze(mask.to(DType::F32), -1);               // [B, L, 1]
    const Tensor summed = sum(mul(embedding_->forward(ids), m), {1});  // [B, D]
    const Tensor pooled = div(summed, sum(m, {1}));                    // mean over real tokens
    nn::NamedTensors out;
    out["last_hidden_state"] = pooled;
    out["logits"] = head_->forward(pooled);
    if (options.hidden_states) out["hidden_states.0"] = pooled;
    return out;
  }
  void init_weights(Generator& gen) override {
    NoGradGuard ng;
    for (auto& [name, t] : named_parameters()) nn::init_normal_(*t, 0.5, gen);
  }
  void set_dropout_generator(Generator*) override {}

 private:
  std::shared_ptr<nn::Embedding> embedding_;
  std::shared_ptr<nn::Linear> head_;
};

class ToyFamily : public nn::ModelFamily {
 public:
  std::string name() const override { return "toy"; }
  std::vector<std::string> model_types() const override { return {"toy-bag"}; }
  std::vector<std::string> architectures() const override { return {"ToyBagForContains"}; }
  std::vector<std::string> tasks() const override { return {"toy-contains"}; }
  nn::ModelSpec parse_config(const nlohmann::json& c, const std::string& origin) const override {
    KILN_CHECK(c.contains("vocab_size") && c["vocab_size"].is_number_integer(), origin,
               ": missing config field 'vocab_size'");
    nn::ModelSpec s;
    s.family = name();
    s.model_type = "toy-bag";
    s.architecture = "ToyBagForContains";
    s.task = "toy-contains";
    s.labels = {"absent", "present"};
    s.max_tokens = 64;
    s.input_names = {"input_ids", "attention_mask"};
    s.summary = {{"size", "vocabulary " + std::to_string(c["vocab_size"].get<int64_t>())}};
    return s;
  }
  std::unique_ptr<nn::Model> build(const nlohmann::json& c,
                                   const std::string& origin) const override {
    parse_config(c, origin);
    return std::make_unique<ToyBag>(c["vocab_size"].get<int64_t>(), c.value("dim", 8));
  }
  nlohmann::json config_with_head(const nlohmann::json& c, const std::string&,
                                  const std::vector<std::string>&) const override {
    return c;
  }
};
KILN_MODEL_FAMILY(ToyFamily);

class ToyData : public train::TaskData {
 public:
  std::vector<std::vector<int64_t>> ids;
  std::vector<int64_t> labels;
  size_t size() const override { return ids.size(); }
  int64_t tokens(size_t i) const override { return static_cast<int64_t>(ids[i].size()); }
};

const ToyData& toy(const train::TaskData& d) {
  return dynamic_cast<const ToyData&>(d);
}

Tensor padded(const std::vector<std::vector<int64_t>>& rows, bool mask) {
  size_t len = 1;
  for (const auto& r : rows) len = std::max(len, r.size());
  std::vector<int64_t> v(rows.size() * len, 0);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t t = 0; t < rows[i].size(); ++t) v[i * len + t] = mask ? 1 : rows[i][t];
  return Tensor::from_ints(v, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(len)});
}

class ToyEvaluation : public train::Evaluation {
 public:
  void add(const nn::NamedTensors& out, const train::TaskData& data,
           const std::vector<size_t>& idx) override {
    const auto p = argmax(out.at("logits"), -1).contiguous().to_ints();
    for (size_t r = 0; r < idx.size(); ++r) {
      gold_.push_back(toy(data).labels[idx[r]]);
      pred_.push_back(p[r]);
    }
  }
  nlohmann::json metrics() const override {
    return {{"accuracy", train::class_scores(gold_, pred_).accuracy}};
  }

 private:
  std::vector<int64_t> gold_, pred_;
};

class ToyPredictor : public train::Predictor {
 public:
  std::vector<nn::NamedTensors> inputs(const data::Record& r) override {
    const auto ids = r.field("ids").get<std::vector<int64_t>>();
    const int64_t n = static_cast<int64_t>(ids.size());
    return {{{"input_ids", Tensor::from_ints(ids, {n})},
             {"attention_mask", Tensor::from_ints(std::vector<int64_t>(ids.size(), 1), {n})}}};
  }
  nlohmann::ordered_json format(const data::Record& r,
                                const std::vector<nn::NamedTensors>& outputs) override {
    const auto p = argmax(outputs.at(0).at("logits"), -1).to_ints();
    return {{"ids", r.field("ids")}, {"label", p.at(0)}};
  }
};

class ToyContains : public train::Task {
 public:
  std::string name() const override { return "toy-contains"; }
  std::string summary() const override { return "does token 3 occur"; }
  std::vector<std::string> selection_metrics() const override { return {"accuracy"}; }
  data::FieldMap default_fields() const override { return {}; }
  std::unique_ptr<train::TaskData> read(const std::string& path,
                                        const train::TaskSetup&) const override {
    auto d = std::make_unique<ToyData>();
    d->path = path;
    auto in = data::RecordReader::open(path);
    while (auto r = in->next()) {
      d->ids.push_back(r->field("ids").get<std::vector<int64_t>>());
      d->labels.push_back(r->field("label").get<int64_t>());
    }
    return d;
  }
  std::vector<std::string> labels_from_data(const train::TaskData&) const override {
    return {"absent", "present"};
  }
  void encode(train::TaskData&, const train::TaskSetup&) const override {}
  train::Batch collate(const train::TaskData& data, const std::vector<size_t>& idx,
                       const train::TaskSetup&) const override {
    std::vector<std::vector<int64_t>> rows;
    std::vector<int64_t> targets;
    train::Batch b;
    for (size_t i : idx) {
      rows.push_back(toy(data).ids[i]);
      targets.push_back(toy(data).labels[i]);
      b.tokens += data.tokens(i);
    }
    b.inputs["input_ids"] = padded(rows, false);
    b.inputs["attention_mask"] = padded(rows, true);
    b.targets = Tensor::from_ints(targets, {static_cast<int64_t>(targets.size())});
    return b;
  }
  std::vector<int64_t> target_counts(const train::TaskData& data, int64_t n) const override {
    std::vector<int64_t> c(n, 0);
    for (int64_t l : toy(data).labels) ++c[l];
    return c;
  }
  double target_weight(const train::TaskData&, const std::vector<size_t>& idx,
                       const train::LossOptions&) const override {
    return static_cast<double>(idx.size());
  }
  Tensor loss(const nn::NamedTensors& out, const train::Batch& b,
              const train::LossOptions&) const override {
    CrossEntropyOptions ce;
    ce.reduction = Reduction::Sum;
    return cross_entropy(out.at("logits"), b.targets, ce);
  }
  std::unique_ptr<train::Evaluation> evaluation(const train::TaskSetup&) const override {
    return std::make_unique<ToyEvaluation>();
  }
  std::unique_ptr<train::Predictor> predictor(const train::TaskSetup&,
                                              const nlohmann::json&) const override {
    return std::make_unique<ToyPredictor>();
  }
};
KILN_TASK(ToyContains);

}  // namespace

nlohmann::json toy_config(int64_t vocab, int64_t dim) {
  return {{"model_type", "toy-bag"}, {"vocab_size", vocab}, {"dim", dim}};
}

std::string toy_rows(size_t n, uint64_t seed) {
  Generator g(seed);
  std::ostringstream out;
  for (size_t i = 0; i < n; ++i) {
    const size_t len = 2 + g.next_u64() % 6;
    nlohmann::json ids = nlohmann::json::array();
    bool has3 = false;
    for (size_t t = 0; t < len; ++t) {
      const int64_t id = static_cast<int64_t>(g.next_u64() % 8);
      has3 |= id == 3;
      ids.push_back(id);
    }
    out << nlohmann::json{{"ids", ids}, {"label", has3 ? 1 : 0}}.dump() << "\n";
  }
  return out.str();
}

}  // namespace kiln::toy
