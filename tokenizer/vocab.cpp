#include "tokenizer/model.h"

namespace kiln::tok {

void Vocab::build(std::vector<std::pair<std::string, int32_t>> entries, const std::string& what) {
  int32_t max_id = -1;
  for (const auto& [tok, id] : entries) {
    if (id < 0) throw Error(what + ": token '" + tok + "' has negative id " + std::to_string(id));
    max_id = std::max(max_id, id);
  }
  tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
  present_.assign(static_cast<size_t>(max_id + 1), false);
  for (auto& [tok, id] : entries) {
    if (present_[id]) {
      throw Error(what + ": id " + std::to_string(id) + " is used by both '" + tokens_[id] +
                  "' and '" + tok + "'");
    }
    present_[id] = true;
    tokens_[id] = std::move(tok);
  }
  // Keys point into tokens_, which no longer changes.
  map_.reserve(entries.size());
  max_bytes_ = 0;
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (!present_[id]) continue;
    map_.insert(tokens_[id], static_cast<int32_t>(id));
    max_bytes_ = std::max(max_bytes_, tokens_[id].size());
  }
}

}  // namespace kiln::tok
