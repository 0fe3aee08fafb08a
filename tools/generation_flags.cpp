#include "tools/generation_flags.h"

#include "core/error.h"
#include "tools/command.h"

namespace kiln::cli {

namespace {

// Integer flags and the config field each sets (the flag is the field with dashes).
const std::vector<std::pair<const char*, const char*>> kIntFlags = {
    {"num-beams", "num_beams"},
    {"num-return-sequences", "num_return_sequences"},
    {"min-length", "min_length"},
    {"max-length", "max_length"},
    {"min-new-tokens", "min_new_tokens"},
    {"max-new-tokens", "max_new_tokens"},
    {"no-repeat-ngram-size", "no_repeat_ngram_size"},
    {"encoder-no-repeat-ngram-size", "encoder_no_repeat_ngram_size"},
    {"top-k", "top_k"},
};
const std::vector<std::pair<const char*, const char*>> kNumberFlags = {
    {"length-penalty", "length_penalty"},
    {"repetition-penalty", "repetition_penalty"},
    {"temperature", "temperature"},
    {"top-p", "top_p"},
};

}  // namespace

void declare_generation_flags(ArgParser& p, const std::string& x) {
  p.option(x + "num-beams", "beams of beam search; 1: greedy search or sampling")
      .option(x + "length-penalty",
              "beam search: a finished hypothesis scores sum of log-probabilities / "
              "length^length_penalty (> 0 favours longer ones)")
      .option(x + "early-stopping",
              "beam search: true (stop an input when num_beams hypotheses are finished), false "
              "(transformers' heuristic) or never (the exact bound)")
      .option(x + "num-return-sequences",
              "sequences per input (at most --num-beams without sampling)")
      .option(x + "min-length", "fewest tokens, the decoder start token included")
      .option(x + "max-length", "most tokens, the decoder start token included")
      .option(x + "min-new-tokens", "fewest generated tokens (the start token not counted)")
      .option(x + "max-new-tokens", "most generated tokens; overrides --max-length")
      .option(x + "no-repeat-ngram-size", "no n-gram of this size appears twice in the output")
      .option(x + "encoder-no-repeat-ngram-size",
              "no n-gram of this size of the input appears in the output")
      .option(x + "repetition-penalty",
              "divides (or multiplies, when negative) the score of tokens "
              "already generated; 1: off")
      .flag(x + "do-sample", "sample from the distribution instead of searching")
      .option(x + "temperature", "sampling: divides the logits")
      .option(x + "top-k", "sampling: only the k most likely tokens; 0: off")
      .option(x + "top-p", "sampling: only the most likely tokens whose probabilities add up to p")
      .option(x + "seed", "sampling: the seed of kiln's counter-based generator", "", "0");
}

std::vector<std::string> generation_flag_names(const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& [flag, field] : kIntFlags) names.push_back(prefix + flag);
  for (const auto& [flag, field] : kNumberFlags) names.push_back(prefix + flag);
  for (const char* flag : {"do-sample", "early-stopping", "seed"}) names.push_back(prefix + flag);
  return names;
}

nn::GenerationConfig apply_generation_flags(const ArgParser& p, nn::GenerationConfig c,
                                            int64_t vocab_size, const std::string& x) {
  nlohmann::json given = nlohmann::json::object();
  for (const auto& [flag, field] : kIntFlags)
    if (p.given(x + flag)) given[field] = p.get_int(x + flag);
  for (const auto& [flag, field] : kNumberFlags)
    if (p.given(x + flag)) given[field] = p.get_double(x + flag);
  if (p.given(x + "do-sample")) given["do_sample"] = p.get_flag(x + "do-sample");
  if (p.given(x + "early-stopping")) {
    const std::string v = p.get(x + "early-stopping");
    if (v == "true")
      given["early_stopping"] = true;
    else if (v == "false")
      given["early_stopping"] = false;
    else if (v == "never")
      given["early_stopping"] = "never";
    else
      throw UsageError("--" + x + "early-stopping must be true, false or never, got '" + v + "'");
  }
  c.update_from_json(given, "the command line");
  const int64_t seed = p.get_int(x + "seed");
  if (seed < 0) throw UsageError("--" + x + "seed must not be negative");
  c.seed = static_cast<uint64_t>(seed);
  try {
    c.validate(vocab_size);
  } catch (const Error& e) {
    // Field names are the flags' with underscores: say which flags to look at.
    throw UsageError(std::string("generation settings (the model's generation config with the "
                                 "flags given): ") +
                     e.what());
  }
  return c;
}

}  // namespace kiln::cli
