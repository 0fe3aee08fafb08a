#include "tools/bert_runner.h"

#include "core/storage.h"

#include <algorithm>
#include <numeric>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/model_file.h"

namespace kiln::cli {

namespace {
const char* task_name(nn::BertTask t) {
  switch (t) {
    case nn::BertTask::TokenClassification:
      return "token classification (kiln tag)";
    case nn::BertTask::SequenceClassification:
      return "sequence classification (kiln classify)";
    case nn::BertTask::Base:
      return "a bare encoder (no task head)";
  }
  return "?";
}
}  // namespace

LoadedBert load_bert(const std::string& path, nn::BertTask task) {
  nn::ModelFile mf = nn::read_model_file(path);
  KILN_CHECK(mf.family == "bert", path, ": model family '", mf.family,
             "' cannot be used here (expected a BERT-family model)");
  LoadedBert m;
  m.config = nn::BertConfig::from_json(mf.config, path + " (kiln.config)");
  KILN_CHECK(m.config.task == task, path, ": this model is a ", m.config.architecture,
             ", made for ", task_name(m.config.task), "; this command needs ", task_name(task));
  KILN_CHECK(!mf.tokenizer_json.empty(), path,
             ": the model file has no tokenizer (it was converted with --no-tokenizer)");
  m.tokenizer = tok::Tokenizer::from_json_string(mf.tokenizer_json);
  m.model = std::make_unique<nn::BertModel>(m.config);
  m.model->load_state_dict(mf.tensors, /*strict=*/false, path);
  m.model->eval();
  // tag/classify only run no-grad forwards: pack the weights for the GEMM once (same bits,
  // faster) and free the row-major copies so packing costs no memory.
  m.model->pack_for_inference(/*release_weights=*/true);
  allocator::release_cached();  // row-major copies made from a bf16/f16 file go back to the OS
  m.max_tokens = m.config.max_position_embeddings;
  if (m.config.family == nn::BertFamily::Roberta) m.max_tokens -= m.config.pad_token_id + 1;
  return m;
}

namespace {

// Runs the model over `encs` in batches of similar length; calls sink(index, logits row view).
template <typename Sink>
void run_batches(const LoadedBert& m, const std::vector<tok::Encoding>& encs, int batch_size,
                 Sink sink) {
  NoGradGuard ng;
  std::vector<size_t> order(encs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return encs[a].size() < encs[b].size(); });
  const int64_t pad = m.config.pad_token_id;
  for (size_t start = 0; start < order.size(); start += batch_size) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
    int64_t len = 1;
    for (size_t i = start; i < end; ++i) len = std::max<int64_t>(len, encs[order[i]].size());
    const int64_t b = static_cast<int64_t>(end - start);
    std::vector<int64_t> ids(b * len, pad), mask(b * len, 0), types(b * len, 0);
    for (int64_t r = 0; r < b; ++r) {
      const auto& e = encs[order[start + r]];
      for (size_t t = 0; t < e.size(); ++t) {
        ids[r * len + t] = e.ids[t];
        mask[r * len + t] = 1;
        types[r * len + t] = e.type_ids[t];
      }
    }
    auto out = m.model->forward(Tensor::from_ints(ids, {b, len}), Tensor::from_ints(mask, {b, len}),
                                Tensor::from_ints(types, {b, len}));
    Tensor probs = softmax(out.logits, -1).contiguous();
    for (int64_t r = 0; r < b; ++r) sink(order[start + r], select(probs, 0, r));
  }
}

}  // namespace

std::vector<std::vector<std::vector<float>>> run_token_probs(const LoadedBert& m,
                                                             const std::vector<tok::Encoding>& encs,
                                                             int batch_size) {
  std::vector<std::vector<std::vector<float>>> out(encs.size());
  const int64_t nl = m.config.num_labels();
  run_batches(m, encs, batch_size, [&](size_t i, const Tensor& p) {
    const auto flat = p.to_floats();
    out[i].resize(encs[i].size());
    for (size_t t = 0; t < encs[i].size(); ++t)
      out[i][t].assign(flat.begin() + t * nl, flat.begin() + (t + 1) * nl);
  });
  return out;
}

std::vector<std::vector<float>> run_sequence_probs(const LoadedBert& m,
                                                   const std::vector<tok::Encoding>& encs,
                                                   int batch_size) {
  std::vector<std::vector<float>> out(encs.size());
  run_batches(m, encs, batch_size, [&](size_t i, const Tensor& p) { out[i] = p.to_floats(); });
  return out;
}

size_t argmax_label(const std::vector<float>& probs) {
  size_t best = 0;
  for (size_t c = 1; c < probs.size(); ++c)
    if (probs[c] > probs[best]) best = c;
  return best;
}

nlohmann::ordered_json label_probs(const std::vector<std::string>& labels,
                                   const std::vector<float>& probs) {
  nlohmann::ordered_json m = nlohmann::ordered_json::object();
  for (size_t c = 0; c < probs.size(); ++c) m[labels[c]] = probs[c];
  return m;
}

}  // namespace kiln::cli
