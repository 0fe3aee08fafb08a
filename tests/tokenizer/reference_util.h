// Helpers for comparing kiln's encodings with the Hugging Face reference fixtures in
// ../shared/refs/tokenizers (one JSON object per line: text, optional pair, ids, tokens, type_ids,
// special_tokens_mask, offsets_bytes for single texts, decoded).
#pragma once

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace kiln::tok::testing {

inline std::string shared_path(const std::string& rel) {
  return std::string(KILN_SHARED_DIR) + "/" + rel;
}

inline std::vector<nlohmann::json> load_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// Result of checking every line of a fixture: per-field counts of matching lines and the first
// few differences, described well enough to debug from the test log alone.
struct Comparison {
  size_t lines = 0;
  std::map<std::string, size_t> checked, matched;
  std::vector<std::string> failures;

  bool all_match() const {
    for (const auto& [field, n] : checked)
      if (matched.at(field) != n) return false;
    return lines > 0;
  }
  std::string summary() const {
    std::ostringstream os;
    for (const auto& [field, n] : checked)
      os << field << " " << matched.at(field) << "/" << n << "  ";
    return os.str();
  }
};

inline nlohmann::json offsets_json(const Encoding& e) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [a, b] : e.offsets) out.push_back({a, b});
  return out;
}

inline Comparison compare_with_reference(const Tokenizer& tok, const std::string& fixture,
                                         const std::vector<std::string>& fields) {
  Comparison c;
  const auto rows = load_jsonl(fixture);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const std::string text = row["text"];
    const bool pair = row.contains("pair");
    const Encoding e =
        pair ? tok.encode_pair(text, row["pair"].get<std::string>()) : tok.encode(text);
    nlohmann::json got;
    got["ids"] = e.ids;
    got["tokens"] = e.tokens;
    got["type_ids"] = e.type_ids;
    got["special_tokens_mask"] = e.special_tokens_mask;
    got["offsets_bytes"] = offsets_json(e);
    got["decoded"] = tok.decode(e.ids, true);
    ++c.lines;
    for (const auto& f : fields) {
      if (!row.contains(f)) continue;  // offsets only exist for single texts
      ++c.checked[f];
      c.matched[f];
      if (got[f] == row[f]) {
        ++c.matched[f];
      } else if (c.failures.size() < 12) {
        c.failures.push_back(fixture + " line " + std::to_string(i + 1) + " field '" + f +
                             "' differs\n  text:     " + text.substr(0, 120) +
                             "\n  expected: " + row[f].dump().substr(0, 400) +
                             "\n  got:      " + got[f].dump().substr(0, 400));
      }
    }
  }
  return c;
}

inline const std::vector<std::string>& all_fields() {
  static const std::vector<std::string> f = {
      "ids", "tokens", "type_ids", "special_tokens_mask", "offsets_bytes", "decoded"};
  return f;
}

}  // namespace kiln::tok::testing
