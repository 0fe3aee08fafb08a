#include "nn/bert_checks.h"

#include <map>
#include <set>
#include <sstream>

#include "core/error.h"

namespace kiln::nn {

namespace {

// The config's own names for the sizes (DistilBERT has its own).
struct FieldNames {
  const char* hidden;
  const char* layers;
  const char* intermediate;
  const char* layer_stack;  // where layer i's tensors live: "<stack>.<i>."
  const char* query;        // a [hidden, hidden] tensor of every layer
  const char* up;           // the [intermediate, hidden] tensor of every layer
};

FieldNames field_names(const BertConfig& c) {
  if (c.family == BertFamily::DistilBert)
    return {"dim",
            "n_layers",
            "hidden_dim",
            "transformer.layer",
            "attention.q_lin.weight",
            "ffn.lin1.weight"};
  return {"hidden_size",   "num_hidden_layers",           "intermediate_size",
          "encoder.layer", "attention.self.query.weight", "intermediate.dense.weight"};
}

std::string shape_text(const Tensor& t) {
  std::ostringstream os;
  os << "[";
  for (int64_t d = 0; d < t.dim(); ++d) os << (d ? ", " : "") << t.size(d);
  os << "]";
  return os.str();
}

// The stored tensors by name without the task-head prefix ("bert."), keeping the stored name for
// messages.
class Stored {
 public:
  Stored(const StateDict& tensors, const std::string& prefix) {
    for (const auto& [name, t] : tensors) {
      const bool prefixed = name.compare(0, prefix.size(), prefix) == 0;
      by_name_.emplace(prefixed ? name.substr(prefix.size()) : name, std::make_pair(name, &t));
    }
  }
  // nullptr when absent.
  const std::pair<std::string, const Tensor*>* find(const std::string& name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, std::pair<std::string, const Tensor*>>& all() const {
    return by_name_;
  }

 private:
  std::map<std::string, std::pair<std::string, const Tensor*>> by_name_;
};

// A stored 2-D tensor must be [rows, cols]; each disagreement names the config field behind it.
void expect_matrix(const Stored& stored, const std::string& name, int64_t rows,
                   const std::string& rows_field, int64_t cols, const std::string& cols_field,
                   const std::string& origin) {
  const auto* e = stored.find(name);
  if (!e) return;  // absent: load_state_dict reports it (or a fresh head fills it)
  const Tensor& t = *e->second;
  KILN_CHECK(t.dim() == 2, origin, ": tensor '", e->first, "' has shape ", shape_text(t),
             " but should be [", rows, ", ", cols, "] (", rows_field, ", ", cols_field, ")");
  KILN_CHECK(t.size(0) == rows, origin, ": config field '", rows_field, "' is ", rows,
             " but tensor '", e->first, "' has ", t.size(0), " rows (shape ", shape_text(t), ")");
  KILN_CHECK(t.size(1) == cols, origin, ": config field '", cols_field, "' is ", cols,
             " but tensor '", e->first, "' has ", t.size(1), " columns (shape ", shape_text(t),
             ")");
}

}  // namespace

double bert_parameter_count(const BertConfig& c) {
  const double h = static_cast<double>(c.hidden_size), f = static_cast<double>(c.intermediate_size);
  const double nl = static_cast<double>(c.num_labels());
  double n =
      (static_cast<double>(c.vocab_size) + static_cast<double>(c.max_position_embeddings)) * h +
      2 * h;  // embeddings and their norm
  if (c.family != BertFamily::DistilBert) n += static_cast<double>(c.type_vocab_size) * h;
  const double layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 4 * h;
  n += static_cast<double>(c.num_layers) * layer;
  if (c.add_pooler) n += h * h + h;
  if (c.task != BertTask::Base) {
    n += nl * h + nl;  // classifier (RoBERTa: out_proj)
    if (c.task == BertTask::SequenceClassification && c.family != BertFamily::Bert)
      n += h * h + h;  // RoBERTa's classifier.dense, DistilBERT's pre_classifier
  }
  return n;
}

void check_bert_tensors(const BertConfig& c, const StateDict& tensors, const std::string& origin) {
  const FieldNames f = field_names(c);
  const Stored stored(tensors, c.model_type + ".");
  const int64_t h = c.hidden_size;
  expect_matrix(stored, "embeddings.word_embeddings.weight", c.vocab_size, "vocab_size", h,
                f.hidden, origin);
  expect_matrix(stored, "embeddings.position_embeddings.weight", c.max_position_embeddings,
                "max_position_embeddings", h, f.hidden, origin);
  if (c.family != BertFamily::DistilBert)
    expect_matrix(stored, "embeddings.token_type_embeddings.weight", c.type_vocab_size,
                  "type_vocab_size", h, f.hidden, origin);

  // The layers stored: exactly 0..num_layers-1, or the model would silently differ (extra layers
  // ignored) or be missing layers.
  const std::string stack = std::string(f.layer_stack) + ".";
  std::set<int64_t> layers;
  std::map<int64_t, std::string> example;  // a stored name of each layer, for messages
  for (const auto& [name, entry] : stored.all()) {
    if (name.compare(0, stack.size(), stack) != 0) continue;
    const size_t dot = name.find('.', stack.size());
    const std::string index = name.substr(stack.size(), dot - stack.size());
    int64_t i = -1;
    if (!index.empty() && index.size() <= 9 &&
        index.find_first_not_of("0123456789") == std::string::npos)
      i = std::stoll(index);
    KILN_CHECK(i >= 0, origin, ": tensor '", entry.first, "' has no layer number after '", stack,
               "'");
    layers.insert(i);
    example.emplace(i, entry.first);
  }
  const int64_t n = c.num_layers;
  const std::string prefix = c.task == BertTask::Base ? "" : c.model_type + ".";
  if (!layers.empty() && *layers.rbegin() >= n)
    throw Error(origin + ": config field '" + f.layers + "' is " + std::to_string(n) +
                " but the file stores tensors of layer " + std::to_string(*layers.rbegin()) +
                " ('" + example[*layers.rbegin()] + "'): it holds more layers than the config");
  for (int64_t i = 0; i < n; ++i)
    KILN_CHECK(layers.count(i), origin, ": config field '", f.layers, "' is ", n,
               " but the file stores no tensor of layer ", i, " (no '", prefix, stack, i, ".",
               f.query, "'; it holds ", layers.size(), " layer", layers.size() == 1 ? "" : "s",
               ")");
  for (int64_t i = 0; i < n; ++i) {
    const std::string layer = stack + std::to_string(i) + ".";
    expect_matrix(stored, layer + f.query, h, f.hidden, h, f.hidden, origin);
    expect_matrix(stored, layer + f.up, c.intermediate_size, f.intermediate, h, f.hidden, origin);
  }

  if (c.task != BertTask::Base) {
    const bool roberta_seq =
        c.task == BertTask::SequenceClassification && c.family == BertFamily::Roberta;
    expect_matrix(stored, roberta_seq ? "classifier.out_proj.weight" : "classifier.weight",
                  c.num_labels(), "id2label", h, f.hidden, origin);
  }
}

}  // namespace kiln::nn
