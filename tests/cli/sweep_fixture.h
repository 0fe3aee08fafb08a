// A tiny text-classification fixture for sweep tests: texts whose label is whether they start with
// "good", a word-level vocabulary of their words and a 1-layer BERT config (no dropout).
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/cli/cli_util.h"

namespace kiln::testing {

inline void write_good_dull_fixture(const TempDir& dir, int train_texts, int eval_texts) {
  const char* words[] = {"good", "plain", "film", "story", "actors", "dull"};
  auto texts = [&](const std::string& name, int n) {
    std::ofstream out(dir / name);
    for (int i = 0; i < n; ++i) {
      const bool good = i % 2 == 0;
      out << nlohmann::json{{"text", std::string(good ? "good " : "dull ") + words[i % 6] + " " +
                                         words[(i * 5 + 1) % 6]},
                            {"label", good ? 1 : 0}}
                 .dump()
          << "\n";
    }
  };
  texts("train.jsonl", train_texts);
  texts("eval.jsonl", eval_texts);
  std::ofstream(dir / "vocab.txt")
      << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ngood\ndull\nplain\nfilm\nstory\nactors\n";
  std::ofstream(dir / "config.json")
      << R"({"model_type": "bert", "vocab_size": 11, "hidden_size": 16, "num_hidden_layers": 1,
             "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 16,
             "num_labels": 2, "hidden_dropout_prob": 0, "attention_probs_dropout_prob": 0})";
}

}  // namespace kiln::testing
