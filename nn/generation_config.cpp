#include "nn/generation_config.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace kiln::nn {

namespace {

using nlohmann::json;

[[noreturn]] void bad_field(const std::string& origin, const std::string& key,
                            const std::string& want, const json& got) {
  throw Error(origin + ": generation field '" + key + "' must be " + want + ", got " + got.dump());
}

int64_t int_field(const json& v, const std::string& origin, const std::string& key) {
  if (!v.is_number_integer()) bad_field(origin, key, "an integer", v);
  return v.get<int64_t>();
}

double number_field(const json& v, const std::string& origin, const std::string& key) {
  if (!v.is_number()) bad_field(origin, key, "a number", v);
  return v.get<double>();
}

bool bool_field(const json& v, const std::string& origin, const std::string& key) {
  if (!v.is_boolean()) bad_field(origin, key, "true or false", v);
  return v.get<bool>();
}

std::vector<int64_t> id_list(const json& v, const std::string& origin, const std::string& key) {
  std::vector<int64_t> ids;
  if (!v.is_array()) bad_field(origin, key, "a list of token ids", v);
  for (const json& x : v) ids.push_back(int_field(x, origin, key));
  return ids;
}

}  // namespace

int64_t GenerationConfig::effective_max_length() const {
  return max_new_tokens ? 1 + *max_new_tokens : max_length;
}

int64_t GenerationConfig::effective_min_length() const {
  return min_new_tokens ? std::max(min_length, 1 + *min_new_tokens) : min_length;
}

int64_t GenerationConfig::effective_pad_token_id() const {
  if (pad_token_id >= 0) return pad_token_id;
  return eos_token_ids.empty() ? -1 : eos_token_ids.front();
}

bool GenerationConfig::is_eos(int64_t token) const {
  return std::find(eos_token_ids.begin(), eos_token_ids.end(), token) != eos_token_ids.end();
}

void GenerationConfig::update_from_json(const json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": the generation settings must be a JSON object");
  for (const auto& [key, v] : j.items()) {
    if (v.is_null()) continue;
    if (key == "max_length")
      max_length = int_field(v, origin, key);
    else if (key == "max_new_tokens")
      max_new_tokens = int_field(v, origin, key);
    else if (key == "min_length")
      min_length = int_field(v, origin, key);
    else if (key == "min_new_tokens")
      min_new_tokens = int_field(v, origin, key);
    else if (key == "num_beams")
      num_beams = int_field(v, origin, key);
    else if (key == "length_penalty")
      length_penalty = number_field(v, origin, key);
    else if (key == "early_stopping") {
      if (v.is_boolean())
        early_stopping = v.get<bool>() ? EarlyStopping::True : EarlyStopping::False;
      else if (v == "never")
        early_stopping = EarlyStopping::Never;
      else
        bad_field(origin, key, "true, false or \"never\"", v);
    } else if (key == "num_return_sequences")
      num_return_sequences = int_field(v, origin, key);
    else if (key == "do_sample")
      do_sample = bool_field(v, origin, key);
    else if (key == "temperature")
      temperature = number_field(v, origin, key);
    else if (key == "top_k")
      top_k = int_field(v, origin, key);
    else if (key == "top_p")
      top_p = number_field(v, origin, key);
    else if (key == "repetition_penalty")
      repetition_penalty = number_field(v, origin, key);
    else if (key == "no_repeat_ngram_size")
      no_repeat_ngram_size = int_field(v, origin, key);
    else if (key == "encoder_no_repeat_ngram_size")
      encoder_no_repeat_ngram_size = int_field(v, origin, key);
    else if (key == "bad_words_ids") {
      if (!v.is_array()) bad_field(origin, key, "a list of lists of token ids", v);
      bad_words_ids.clear();
      for (const json& w : v) bad_words_ids.push_back(id_list(w, origin, key));
    } else if (key == "decoder_start_token_id")
      decoder_start_token_id = int_field(v, origin, key);
    else if (key == "bos_token_id")
      bos_token_id = int_field(v, origin, key);
    else if (key == "pad_token_id")
      pad_token_id = int_field(v, origin, key);
    else if (key == "forced_bos_token_id")
      forced_bos_token_id = int_field(v, origin, key);
    else if (key == "forced_eos_token_id") {
      // transformers allows a list; the processor then forces any of them (all get score 0).
      forced_eos_token_id =
          v.is_array() ? id_list(v, origin, key).at(0) : int_field(v, origin, key);
    } else if (key == "eos_token_id")
      eos_token_ids =
          v.is_array() ? id_list(v, origin, key) : std::vector<int64_t>{int_field(v, origin, key)};
  }
}

void GenerationConfig::validate(int64_t vocab_size) const {
  auto check_id = [&](int64_t id, const char* name) {
    KILN_CHECK(id < vocab_size, name, " ", id, " is not a token of this model (vocabulary ",
               vocab_size, ")");
  };
  KILN_CHECK(!max_new_tokens || *max_new_tokens >= 1, "max_new_tokens must be at least 1, got ",
             *max_new_tokens);
  KILN_CHECK(effective_max_length() >= 2,
             "max_length counts the decoder start token, so it must be at least 2, got ",
             effective_max_length());
  KILN_CHECK(effective_max_length() <= 1000000, "max_length ", effective_max_length(),
             " is absurdly large");
  KILN_CHECK(min_length >= 0 && (!min_new_tokens || *min_new_tokens >= 0),
             "min_length and min_new_tokens must not be negative");
  KILN_CHECK(effective_min_length() <= effective_max_length(), "min_length ",
             effective_min_length(), " is larger than max_length ", effective_max_length(),
             " (both count the decoder start token)");
  KILN_CHECK(num_beams >= 1, "num_beams must be at least 1, got ", num_beams);
  KILN_CHECK(num_return_sequences >= 1, "num_return_sequences must be at least 1, got ",
             num_return_sequences);
  if (!do_sample) {
    KILN_CHECK(num_return_sequences <= num_beams, "num_return_sequences ", num_return_sequences,
               " is larger than num_beams ", num_beams,
               ": without sampling a search returns at most num_beams different sequences");
  }
  KILN_CHECK(std::isfinite(length_penalty), "length_penalty must be a finite number");
  KILN_CHECK(std::isfinite(repetition_penalty) && repetition_penalty > 0,
             "repetition_penalty must be a positive number, got ", repetition_penalty);
  KILN_CHECK(no_repeat_ngram_size >= 0 && encoder_no_repeat_ngram_size >= 0,
             "no_repeat_ngram_size and encoder_no_repeat_ngram_size must not be negative");
  if (do_sample) {
    KILN_CHECK(std::isfinite(temperature) && temperature > 0,
               "temperature must be a positive number, got ", temperature);
    KILN_CHECK(top_k >= 0, "top_k must not be negative, got ", top_k);
    KILN_CHECK(top_p > 0 && top_p <= 1, "top_p must be in (0, 1], got ", top_p);
    KILN_CHECK(num_beams == 1,
               "sampling with num_beams > 1 (beam sampling) is not supported yet: use "
               "num_beams 1 with do_sample, or beam search without it");
  }
  KILN_CHECK(decoder_start_token_id >= 0 || bos_token_id >= 0,
             "the model sets neither decoder_start_token_id nor bos_token_id, so generation "
             "cannot start");
  check_id(decoder_start_token_id, "decoder_start_token_id");
  check_id(forced_bos_token_id, "forced_bos_token_id");
  check_id(forced_eos_token_id, "forced_eos_token_id");
  check_id(pad_token_id, "pad_token_id");
  for (int64_t id : eos_token_ids) {
    KILN_CHECK(id >= 0, "eos_token_id ", id, " is negative");
    check_id(id, "eos_token_id");
  }
  if (num_beams > 1)
    KILN_CHECK(!eos_token_ids.empty() && effective_pad_token_id() >= 0,
               "beam search needs eos_token_id and pad_token_id");
  for (const auto& word : bad_words_ids) {
    KILN_CHECK(!word.empty(), "bad_words_ids holds an empty list");
    for (int64_t id : word) {
      KILN_CHECK(id >= 0, "bad_words_ids holds the negative id ", id);
      check_id(id, "a bad_words_ids entry");
    }
  }
}

GenerationConfig model_generation_config(const json& config, const json& generation_config,
                                         const std::string& task, const std::string& origin) {
  GenerationConfig g;
  // transformers 4.30 (generate() and Pipeline.__init__): a generation config that was itself made
  // from the model config ("_from_model_config": true, as save_pretrained writes it then) is
  // rebuilt from the model config, which the summarization pipeline has updated with
  // task_specific_params.summarization; a generation config written on purpose wins as it is.
  const bool from_model_config =
      generation_config.is_object() && generation_config.value("_from_model_config", false) == true;
  if (!generation_config.is_null() && !from_model_config) {
    g.update_from_json(generation_config, origin + " (generation_config.json)");
    return g;
  }
  g.update_from_json(config, origin + " (config.json)");
  if (!task.empty() && config.contains("task_specific_params") &&
      config["task_specific_params"].is_object() && config["task_specific_params"].contains(task))
    g.update_from_json(config["task_specific_params"][task],
                       origin + " (config.json task_specific_params." + task + ")");
  return g;
}

}  // namespace kiln::nn
