// The encoder input of a summarization example, as kiln summarize and seq2seq training read it
// from a record: "text" (one document), "reviews" / "documents" (a list: a review group or a
// multi-document input) or "input_ids" (pre-tokenized, used as given). The review-group
// preprocessing people write by hand is here: keep the K longest documents, join them with a
// separator token, cap the source length, and mark where LED/PRIMERA-style global attention goes
// (the first token and every separator).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/record_reader.h"
#include "nn/family.h"
#include "tokenizer/tokenizer.h"

namespace kiln::train {

struct SourceOptions {
  std::string text_field = "text";
  std::vector<std::string> document_fields = {"reviews", "documents"};
  std::string ids_field = "input_ids";
  // Keep the K documents with the most tokens (in their original order); 0 keeps all.
  int64_t k_top_longest = 0;
  // Longest encoder input in tokens, special tokens included; longer ones are cut (the final
  // end token kept). 0: no limit.
  int64_t max_source_length = 0;
  // The token between documents; -1: none (documents are then joined with nothing between).
  int64_t doc_sep_id = -1;
  int64_t vocab_size = 0;  // bounds pre-tokenized ids; 0: unchecked
};

struct EncodedSource {
  std::vector<int64_t> ids;
  // 1 on the first token and on every document separator (PRIMERA's global attention).
  std::vector<int64_t> global_attention;
  bool truncated = false;
  int64_t documents = 1;  // after k_top_longest
};

// Errors name record.where() and the field: a missing source field, a document list that is empty
// or holds a non-string, input_ids that are not token ids of the model.
EncodedSource encode_source(const data::Record& record, const tok::Tokenizer& tokenizer,
                            const SourceOptions& options);

// The text of generated ids as transformers' tokenizer.decode(skip_special_tokens=True) gives it,
// with clean_up_tokenization_spaces (BartTokenizer's default).
std::string decode_summary(const tok::Tokenizer& tokenizer, const std::vector<int64_t>& ids);

// The separator kiln uses when none is given: the tokenizer's <doc-sep> (PRIMERA) when it has
// one, otherwise its end-of-sequence token </s> (fairseq's convention for BART), or -1.
int64_t default_doc_sep_id(const tok::Tokenizer& tokenizer);
// The id of the separator token `token` (--doc-sep); empty: default_doc_sep_id. A token the
// tokenizer does not have is an error naming it.
int64_t doc_sep_id(const tok::Tokenizer& tokenizer, const std::string& token);

// The encoder inputs of a batch of sources, right-padded with the model's pad token: input_ids,
// attention_mask, and global_attention_mask for models that take one (LED).
nn::NamedTensors source_batch(const std::vector<const EncodedSource*>& sources,
                              const nn::ModelSpec& spec);

}  // namespace kiln::train
