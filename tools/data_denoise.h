// kiln data denoise: BART-style pre-training pairs from raw text (data/text_noise.h).
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

int run_data_denoise(const std::vector<std::string>& args);

}  // namespace kiln::cli
