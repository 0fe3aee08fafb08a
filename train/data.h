// Labelled text for the two classification tasks (token and sequence classification): records
// read through data::RecordReader (JSON lines, CSV/TSV, text) into labelled rows, then tokenised
// into examples whose labels line up with the model's tokens. Every problem with a line
// (malformed JSON, a missing field, words and tags of different lengths, an unknown label) is an
// error naming file:line, and is found before any training starts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/record_reader.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/word_splitter.h"
#include "train/task.h"

namespace kiln::train {

// Which of the two label layouts: one label per word, or one per text.
enum class TextTask { TokenClassification, SequenceClassification };

// A label as written in the data: a string name or an integer id.
struct RawLabel {
  std::string name;  // the string, or the integer in decimal
  bool is_int = false;
  int64_t value = 0;  // when is_int
};

struct RawRow {
  size_t line = 0;
  std::vector<std::string> words;  // tagging
  std::string text;                // classification
  std::vector<RawLabel> labels;    // one per word (tagging) or exactly one (classification)
};

struct RawData {
  std::string path;
  std::vector<RawRow> rows;
};

// Reads and checks the structure of every line. Tagging: `text_field` is an array of words and
// `label_field` an array of tags of the same length; or `text_field` is a string and
// `label_field` an array of {"start", "end", "label"} spans with byte offsets (as `kiln tag`
// writes them), turned into IOB2 tags on the words `word_splitter` finds (the words `kiln tag`
// sees in text input with the same splitter; WordSplitter::Tokenizer needs `tokenizer`); a word
// overlapping a span gets its label. Classification: `text_field` is a string and `label_field` a
// string or an integer.
RawData read_rows(const std::string& path, TextTask task, const std::string& text_field,
                  const std::string& label_field, const tok::Tokenizer* tokenizer = nullptr,
                  data::Format format = data::Format::Auto,
                  tok::WordSplitter word_splitter = tok::WordSplitter::Tokenizer);

// The label set of a model trained from scratch: integer labels 0..max become "0", "1", ...;
// string labels are sorted, with "O" first for tagging (so id 0 is "outside").
std::vector<std::string> labels_from_data(const RawData& data, TextTask task);

// Tokenised input with aligned label ids.
struct Example {
  std::vector<int32_t> ids, type_ids;
  // Tagging: one target per token, kIgnoreLabel except on the first sub-token of each word.
  // Classification: exactly one target.
  std::vector<int64_t> labels;
  // Tagging only, one entry per word (including words cut off by truncation): the gold label id
  // and the token that carries the word's prediction (-1 when the word has no token left).
  std::vector<int64_t> word_labels;
  std::vector<int64_t> word_tokens;
};

struct EncodeOptions {
  TextTask task = TextTask::TokenClassification;
  int64_t max_length = 128;        // tokens including the special tokens
  bool word_prefix_space = false;  // words are encoded as " word" (ModelSpec::word_prefix_space)
};

// Maps labels through `label_names` (integer labels are ids into it) and tokenises. Tagging
// encodes each word on its own without special tokens, exactly as `kiln tag` does for "words"
// input, so training and tagging see the same tokens.
std::vector<Example> encode_examples(const RawData& data, const tok::Tokenizer& tokenizer,
                                     const std::vector<std::string>& label_names,
                                     const EncodeOptions& options);

}  // namespace kiln::train
