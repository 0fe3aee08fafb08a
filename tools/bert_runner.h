// Loads a kiln model file of the BERT family with its tokenizer, and runs batched inference for the
// task commands (tag, classify): no-grad, length-sorted batches padded to the longest member.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
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

// Index of the most probable label (first one on ties), and the {label: probability} map that the
// task commands print with --probs, in label-id order.
size_t argmax_label(const std::vector<float>& probs);
nlohmann::ordered_json label_probs(const std::vector<std::string>& labels,
                                   const std::vector<float>& probs);

}  // namespace kiln::cli
