// The quantization tests compare models through `kiln forward`, as a user would run them.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {

// kiln forward's "logits" for `model` on the safetensors input file `input`; an undefined tensor
// (and a test failure naming kiln's output) when kiln fails.
inline Tensor forward_logits(const std::string& model, const std::string& input) {
  const std::string out = model + ".out.safetensors";
  const auto r = run_kiln("forward -m " + model + " -i " + input + " -o " + out);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.exit_code == 0 ? nn::load_safetensors(out).at("logits") : Tensor();
}

}  // namespace kiln::testing
