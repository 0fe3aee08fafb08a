// The settings of one generate() call, under transformers' names and with its defaults
// (GenerationConfig of transformers 4.30.2), read from a model's generation_config.json or
// config.json and overridden by the caller (kiln summarize's flags).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kiln::nn {

// early_stopping: true stops an input as soon as num_beams hypotheses are finished; false uses
// transformers' heuristic bound; "never" the exact bound (canonical beam search).
enum class EarlyStopping { False, True, Never };

struct GenerationConfig {
  // Lengths count the decoder start token. max_new_tokens, when set, wins: max_length becomes
  // 1 + max_new_tokens (the decoder prompt is the start token alone), and likewise min_new_tokens.
  int64_t max_length = 20;
  std::optional<int64_t> max_new_tokens;
  int64_t min_length = 0;
  std::optional<int64_t> min_new_tokens;

  int64_t num_beams = 1;
  double length_penalty = 1.0;
  EarlyStopping early_stopping = EarlyStopping::False;
  int64_t num_return_sequences = 1;

  bool do_sample = false;
  double temperature = 1.0;
  int64_t top_k = 50;  // 0: off
  double top_p = 1.0;  // 1: off
  uint64_t seed = 0;   // kiln's: sampling draws from a counter-based generator with this seed

  double repetition_penalty = 1.0;
  int64_t no_repeat_ngram_size = 0;
  int64_t encoder_no_repeat_ngram_size = 0;
  std::vector<std::vector<int64_t>> bad_words_ids;

  // -1: not set.
  int64_t decoder_start_token_id = -1, bos_token_id = -1, pad_token_id = -1;
  int64_t forced_bos_token_id = -1, forced_eos_token_id = -1;
  std::vector<int64_t> eos_token_ids;  // eos_token_id: one id or a list

  // max_length after max_new_tokens, min_length after min_new_tokens.
  int64_t effective_max_length() const;
  int64_t effective_min_length() const;
  // pad_token_id, or the first eos id when unset (as generate() does, with a warning there).
  int64_t effective_pad_token_id() const;
  bool is_eos(int64_t token) const;

  // Applies the generation fields present in `j` (generation_config.json, config.json or
  // task_specific_params.<task>); other keys are ignored, null means "leave the default". A field
  // of the wrong type is an error naming `origin` and the field.
  void update_from_json(const nlohmann::json& j, const std::string& origin);
  // Refuses contradictory or out-of-range settings (num_return_sequences > num_beams without
  // sampling, min_length > max_length, ...), naming the flag/field; `vocab_size` bounds token ids.
  void validate(int64_t vocab_size) const;
};

// The defaults generate() uses for a model, as transformers 4.30.2 builds them: the model's
// generation_config.json when it has one written on purpose; otherwise (none, or one saved with
// "_from_model_config": true) the generation fields of config.json, with
// task_specific_params.<task> on top when `task` is not empty (what the summarization pipeline
// does to the model config before generate() rebuilds its generation config from it). Errors
// name `origin`.
GenerationConfig model_generation_config(const nlohmann::json& config,
                                         const nlohmann::json& generation_config,
                                         const std::string& task, const std::string& origin);

}  // namespace kiln::nn
