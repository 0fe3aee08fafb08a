// Loads a kiln model file of the BERT family with its tokenizer, and runs batched inference for the
// task commands (tag, classify): no-grad, length-sorted batches padded to the longest member.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/bert.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

struct LoadedBert {
  nn::BertConfig config;
  std::unique_ptr<nn::BertModel> model;
  std::optional<tok::Tokenizer> tokenizer;  // always set by load_bert
  int64_t max_tokens = 512;                 // model maximum (positions), minus RoBERTa's offset
};

// `task` (token- or sequence-classification) must match the model's head; the error names both.
LoadedBert load_bert(const std::string& path, nn::BertTask task);

// Softmax probabilities for each encoding: [tokens, labels] (token task) or [labels] (sequence).
std::vector<std::vector<std::vector<float>>> run_token_probs(const LoadedBert& m,
                                                             const std::vector<tok::Encoding>& encs,
                                                             int batch_size);
std::vector<std::vector<float>> run_sequence_probs(const LoadedBert& m,
                                                   const std::vector<tok::Encoding>& encs,
                                                   int batch_size);

}  // namespace kiln::cli
