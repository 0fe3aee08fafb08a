// Post-processors: add the model's special tokens around one or two encoded sequences and set
// their type ids (TemplateProcessing, BertProcessing, RobertaProcessing), and trim byte-level
// offsets so they do not cover the leading space (ByteLevel, RobertaProcessing).
#pragma once

#include <memory>
#include <string>

#include "tokenizer/encoding.h"
#include "tokenizer/json_fields.h"

namespace kiln::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Number of special tokens process() adds for a single sequence or a pair.
  virtual size_t added_tokens(bool pair) const = 0;
  // Combines `a` and optional `b` (type ids 0 and 1 already set) into `a`.
  virtual void process(Encoding& a, Encoding* b, bool add_special_tokens) const = 0;
};

// Without a post-processor: concatenate, keeping type ids (Hugging Face's default_process).
void default_post_process(Encoding& a, Encoding* b);

// Moves offset starts past leading 'Ġ' (space) characters of each token and ends before trailing
// ones, as Hugging Face's ByteLevel::process_offsets.
void trim_byte_level_offsets(Encoding& e, bool add_prefix_space);

std::unique_ptr<PostProcessor> post_processor_from_json(const Json& j, const std::string& path);

}  // namespace kiln::tok
