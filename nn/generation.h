// Generation for encoder-decoders (nn/seq2seq.h), with transformers 4.30.2's semantics: greedy
// search, multinomial sampling and beam search, the logits processors of nn/logits_processors.h,
// lengths that count the decoder start token. kiln summarize, evaluation during seq2seq training
// and later the server all generate through generate().
//
// Batched generation equals generating each input alone: rows of inputs that are done leave the
// batch (they stop costing compute) instead of being padded, and each result is returned without
// padding. Sampling draws from kiln's counter-based generator keyed by (seed, input index,
// sequence, step), so a sample does not depend on how inputs were batched.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "nn/generation_config.h"
#include "nn/seq2seq.h"

namespace kiln::nn {

struct GeneratedSequence {
  // As generate() returns it: the decoder start token first, then the generated tokens up to and
  // including the end-of-sequence token (beam search appends it when the hypothesis ended before
  // max_length); no padding.
  std::vector<int64_t> ids;
  // Beam search: transformers' sequences_scores (sum of log-probabilities / length^length_penalty).
  // NaN for greedy search and sampling.
  double score = std::numeric_limits<double>::quiet_NaN();
};

struct GenerationHooks {
  // Greedy search and sampling: after every step, once for each sequence still being generated:
  // its input (index in the batch), which of the input's num_return_sequences it is, and the token
  // just chosen (the end-of-sequence token included). For streaming output.
  std::function<void(int64_t input, int64_t sequence, int64_t token)> on_token;
  // Every step, for each row: its input, and the scores after the logits processors (greedy and
  // sampling: the processed logits, before any warper; beam search: the processed log-softmax,
  // without the running beam score), as output_scores=True records them. Rows of one input are
  // its beams (or sequences) in order.
  std::function<void(int64_t step, int64_t input, const float* scores, int64_t vocab)> on_scores;
  // Polled between steps; returning true abandons generation (an interrupt).
  std::function<bool()> stop_requested;
};

// One entry per input (rows of inputs["input_ids"]), each with num_return_sequences sequences,
// best first for beam search. `first_input_index` numbers the inputs for the sampling generator
// (the line number of the first input in a file, so that batching does not change samples).
std::vector<std::vector<GeneratedSequence>> generate(const Seq2SeqLM& model,
                                                     const NamedTensors& inputs,
                                                     const GenerationConfig& config,
                                                     const GenerationHooks& hooks = {},
                                                     uint64_t first_input_index = 0);

}  // namespace kiln::nn
