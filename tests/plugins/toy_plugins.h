// A toy model family and a toy task that exist only in this test binary: they register through
// KILN_MODEL_FAMILY / KILN_TASK exactly as kiln's own do, which shows that adding a family or a
// task is additive (no edit outside tests/ is needed to train, predict and run `kiln forward`).
//
// toy-bag: input_ids [B, L] -> embedding -> masked mean over tokens -> linear -> logits [B, 2].
// toy-contains: rows {"ids": [int...], "label": 0|1}; the label says whether token 3 occurs.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

namespace kiln::toy {

// A config.json for the toy family.
nlohmann::json toy_config(int64_t vocab = 8, int64_t dim = 8);

// Rows of the toy task as JSON lines: `n` random sequences, label 1 when token 3 occurs.
std::string toy_rows(size_t n, uint64_t seed);

}  // namespace kiln::toy
