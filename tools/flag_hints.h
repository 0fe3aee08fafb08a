// "Did you mean ...?" for an unknown command-line flag. People arrive at kiln with Hugging Face
// training scripts in their fingers (--learning_rate, --num_train_epochs, --output_dir), so a
// wrong flag is more often a known flag in another spelling than a real mistake.
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

// The declared long flag (no leading dashes) that `unknown` (also without dashes) most likely
// meant, or "" when nothing is close. Tried in order: underscores written as hyphens, the
// Hugging Face TrainingArguments name of a kiln flag, then a spelling within two edits.
std::string suggest_flag(const std::string& unknown, const std::vector<std::string>& declared);

}  // namespace kiln::cli
