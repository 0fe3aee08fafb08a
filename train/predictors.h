// The predictors of the two text classification tasks, i.e. what `kiln tag` and `kiln classify`
// print for one input record. Each lives in its own file; the tasks return them from
// Task::predictor(). Both read the model's conventions from setup.spec (labels, max_tokens,
// word_prefix_space), never from a model type, and tokenize with setup.tokenizer.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/task.h"

namespace kiln::train {

// An option value the predictor cannot work with (e.g. a stride wider than the model's window).
// Commands report it as a usage error; other failures are plain kiln::Error.
class PredictorOptionError : public Error {
 public:
  using Error::Error;
};

// Token classification over words. Records carry setup.fields.words (already split words; the
// text is then the words joined by single spaces), or setup.fields.text holding an array of words
// (the same) or a text, split into words by setup.word_splitter (the splitter the model's
// training data used; tokenizer/word_splitter.h). Each word gets the prediction of its first
// sub-token; spans are merged from the IOB2 tags with byte offsets into the text. Given words come
// out one for one, also those the tokenizer makes no tokens of ("", " "): they are labelled "O"
// with score 0 and null probs. Options:
//   "probs"          bool    add "probs": one {label: probability} map per word (null if not
//                            tagged)
//   "stride"         int     tag long inputs in overlapping windows sharing this many tokens (each
//                            token takes the window where it sits farthest from an edge); < 0:
//                            truncate (the words beyond the model's length are counted in
//                            "truncated_words")
//   "word_splitter"  string  overrides setup.word_splitter for text input
// Output (after the passed-through input fields, train/pass_through.h):
//   {"text", "words", "labels", "spans": [{"text", "label", "start", "end", "score"}], "probs"?,
//    "truncated_words"?}
std::unique_ptr<Predictor> make_token_classification_predictor(const TaskSetup& setup,
                                                               const nlohmann::json& options);

// Sequence classification of setup.fields.text (and setup.fields.pair when a record has it),
// truncated to the model's length. Options: "probs" (bool) adds a {label: probability} map.
// Output (after the passed-through input fields, train/pass_through.h):
//   {"text", "pair"?, "label", "score", "probs"?}
std::unique_ptr<Predictor> make_sequence_classification_predictor(const TaskSetup& setup,
                                                                  const nlohmann::json& options);

}  // namespace kiln::train
