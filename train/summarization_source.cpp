#include "train/summarization_source.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "tokenizer/decoders.h"

namespace kiln::train {

namespace {

std::vector<int64_t> to_ids(const std::vector<int32_t>& ids) {
  return std::vector<int64_t>(ids.begin(), ids.end());
}

// The tokenizer's special tokens around one sequence (<s> ... </s> for BART): what it adds to an
// empty text, split at the position the text would take.
std::pair<std::vector<int64_t>, std::vector<int64_t>> special_wrap(const tok::Tokenizer& tok) {
  const tok::Encoding e = tok.encode("", true);
  std::vector<int64_t> before, after;
  // The text's tokens would sit after the leading specials; BART/RoBERTa add one token each side.
  const size_t lead = e.ids.empty() ? 0 : 1;
  for (size_t i = 0; i < e.ids.size(); ++i) (i < lead ? before : after).push_back(e.ids[i]);
  return {before, after};
}

std::vector<int64_t> pre_tokenized(const data::Record& r, const std::string& field,
                                   int64_t vocab_size) {
  const nlohmann::json& v = r.field(field);
  KILN_CHECK(v.is_array() && !v.empty(), r.where(), "field '", field,
             "' must be a non-empty list of token ids");
  std::vector<int64_t> ids;
  for (const auto& x : v) {
    KILN_CHECK(x.is_number_integer(), r.where(), "field '", field, "' holds ", x.dump(),
               ", not a token id");
    const int64_t id = x.get<int64_t>();
    KILN_CHECK(id >= 0 && (vocab_size <= 0 || id < vocab_size), r.where(), "field '", field,
               "' holds the id ", id, ", outside the model's vocabulary of ", vocab_size);
    ids.push_back(id);
  }
  return ids;
}

}  // namespace

std::string decode_summary(const tok::Tokenizer& tokenizer, const std::vector<int64_t>& ids) {
  return tok::cleanup_tokenization_spaces(
      tokenizer.decode(std::vector<int32_t>(ids.begin(), ids.end())));
}

int64_t default_doc_sep_id(const tok::Tokenizer& tokenizer) {
  if (auto id = tokenizer.token_to_id("<doc-sep>")) return *id;
  if (auto id = tokenizer.token_to_id("</s>")) return *id;
  return -1;
}

int64_t doc_sep_id(const tok::Tokenizer& tokenizer, const std::string& token) {
  if (token.empty()) return default_doc_sep_id(tokenizer);
  const auto id = tokenizer.token_to_id(token);
  KILN_CHECK(id.has_value(), "the document separator '", token,
             "' is not a token of the tokenizer");
  return *id;
}

nn::NamedTensors source_batch(const std::vector<const EncodedSource*>& sources,
                              const nn::ModelSpec& spec) {
  size_t longest = 0;
  for (const EncodedSource* s : sources) longest = std::max(longest, s->ids.size());
  const int64_t b = static_cast<int64_t>(sources.size()), l = static_cast<int64_t>(longest);
  std::vector<int64_t> ids(sources.size() * longest, spec.pad_token_id), mask(ids.size(), 0),
      global(ids.size(), 0);
  for (size_t i = 0; i < sources.size(); ++i) {
    const EncodedSource& s = *sources[i];
    for (size_t j = 0; j < s.ids.size(); ++j) {
      ids[i * longest + j] = s.ids[j];
      mask[i * longest + j] = 1;
      global[i * longest + j] = s.global_attention[j];
    }
  }
  nn::NamedTensors inputs{{"input_ids", Tensor::from_ints(ids, {b, l})},
                          {"attention_mask", Tensor::from_ints(mask, {b, l})}};
  const auto& names = spec.input_names;
  if (std::find(names.begin(), names.end(), "global_attention_mask") != names.end())
    inputs["global_attention_mask"] = Tensor::from_ints(global, {b, l});
  return inputs;
}

EncodedSource encode_source(const data::Record& r, const tok::Tokenizer& tok,
                            const SourceOptions& o) {
  EncodedSource out;
  std::string docs_field;
  for (const auto& f : o.document_fields)
    if (r.has(f)) docs_field = f;
  if (r.has(o.ids_field)) {
    out.ids = pre_tokenized(r, o.ids_field, o.vocab_size);
  } else if (!docs_field.empty()) {
    const nlohmann::json& v = r.field(docs_field);
    KILN_CHECK(v.is_array(), r.where(), "field '", docs_field, "' must be a list of texts");
    KILN_CHECK(!v.empty(), r.where(), "field '", docs_field,
               "' is an empty list: there is nothing to summarize");
    std::vector<std::vector<int64_t>> docs;
    for (size_t i = 0; i < v.size(); ++i) {
      KILN_CHECK(v[i].is_string(), r.where(), "field '", docs_field, "' item ", i, " is ",
                 v[i].dump(), ", not a text");
      docs.push_back(to_ids(tok.encode(v[i].get<std::string>(), false).ids));
    }
    if (o.k_top_longest > 0 && static_cast<int64_t>(docs.size()) > o.k_top_longest) {
      // The K longest, in their original order (a stable sort keeps the earlier of equals).
      std::vector<size_t> order(docs.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return docs[a].size() > docs[b].size(); });
      order.resize(static_cast<size_t>(o.k_top_longest));
      std::sort(order.begin(), order.end());
      std::vector<std::vector<int64_t>> kept;
      for (size_t i : order) kept.push_back(std::move(docs[i]));
      docs = std::move(kept);
    }
    const auto [before, after] = special_wrap(tok);
    out.ids = before;
    for (size_t i = 0; i < docs.size(); ++i) {
      if (i > 0 && o.doc_sep_id >= 0) out.ids.push_back(o.doc_sep_id);
      out.ids.insert(out.ids.end(), docs[i].begin(), docs[i].end());
    }
    out.ids.insert(out.ids.end(), after.begin(), after.end());
    out.documents = static_cast<int64_t>(docs.size());
  } else {
    // Plain text input lines arrive as {"text": ...}.
    out.ids = to_ids(tok.encode(r.string_field(o.text_field), true).ids);
  }
  if (o.max_source_length > 0 && static_cast<int64_t>(out.ids.size()) > o.max_source_length) {
    // Keep the end token so that the encoder sees a finished sequence, as tokenizers'
    // truncation does (it cuts the text, not the special tokens).
    const int64_t last = out.ids.back();
    out.ids.resize(static_cast<size_t>(o.max_source_length));
    out.ids.back() = last;
    out.truncated = true;
  }
  out.global_attention.assign(out.ids.size(), 0);
  if (!out.ids.empty()) out.global_attention[0] = 1;
  if (o.doc_sep_id >= 0)
    for (size_t i = 0; i < out.ids.size(); ++i)
      if (out.ids[i] == o.doc_sep_id) out.global_attention[i] = 1;
  return out;
}

}  // namespace kiln::train
