// The generation flags under Hugging Face's names (--num-beams, --length-penalty, ...), shared by
// the commands that generate (kiln summarize; seq2seq evaluation during kiln train). A flag that
// is not given leaves the model's default (its generation_config.json, see
// nn/model_generation_config).
#pragma once

#include "nn/generation_config.h"
#include "tools/args.h"

namespace kiln::cli {

void declare_generation_flags(ArgParser& p);
// `config` with every given flag applied, then validated against `vocab_size`; a contradiction
// (num_return_sequences > num_beams without sampling, min_length > max_length, ...) is a
// UsageError.
nn::GenerationConfig apply_generation_flags(const ArgParser& p, nn::GenerationConfig config,
                                            int64_t vocab_size);

}  // namespace kiln::cli
