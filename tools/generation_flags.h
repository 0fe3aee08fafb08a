// The generation flags under Hugging Face's names (--num-beams, --length-penalty, ...), shared by
// the commands that generate (kiln summarize; seq2seq evaluation during kiln train). A flag that
// is not given leaves the model's default (its generation_config.json, see
// nn/model_generation_config).
#pragma once

#include <string>
#include <vector>

#include "nn/generation_config.h"
#include "tools/args.h"

namespace kiln::cli {

// `prefix` goes before every flag name ("generation-" in kiln train, where --max-length and
// --seed mean other things).
void declare_generation_flags(ArgParser& p, const std::string& prefix = "");
// The flag names declare_generation_flags declares (without dashes).
std::vector<std::string> generation_flag_names(const std::string& prefix = "");
// `config` with every given flag applied, then validated against `vocab_size`; a contradiction
// (num_return_sequences > num_beams without sampling, min_length > max_length, ...) is a
// UsageError.
nn::GenerationConfig apply_generation_flags(const ArgParser& p, nn::GenerationConfig config,
                                            int64_t vocab_size, const std::string& prefix = "");

}  // namespace kiln::cli
