#include "nn/bart_checkpoint_import.h"

#include <algorithm>
#include <cstring>

namespace kiln::nn {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Exact equality of two checkpoint tensors (a tied alias stored beside its canonical tensor).
bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const Tensor x = a.contiguous(), y = (b.dtype() == a.dtype() ? b : b.to(a.dtype())).contiguous();
  return std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

}  // namespace

ConvertedWeights import_bart_style_checkpoint(const nlohmann::json& config, const BartConfig& c,
                                              const std::string& base, StateDict tensors,
                                              const std::string& origin) {
  const std::string dotted = base + ".";
  const bool prefixed = std::any_of(tensors.begin(), tensors.end(),
                                    [&](const auto& kv) { return starts_with(kv.first, dotted); });
  ConvertedWeights out;
  out.config = config;
  for (auto& [name, t] : tensors) {
    const bool head = name == "lm_head.weight" || name == "final_logits_bias";
    std::string n = name;
    if (c.lm_head && !prefixed && !head) {
      n = dotted + name;
    } else if (!c.lm_head && prefixed) {
      if (head) {  // the bare model has no LM head
        out.dropped.push_back(name);
        continue;
      }
      if (starts_with(name, dotted)) n = name.substr(dotted.size());
    }
    out.tensors[n] = std::move(t);
  }

  const std::string prefix = c.lm_head ? dotted : "", shared = prefix + "shared.weight";
  std::vector<std::string> aliases = {prefix + "encoder.embed_tokens.weight",
                                      prefix + "decoder.embed_tokens.weight"};
  if (c.lm_head && c.tie_word_embeddings) aliases.push_back("lm_head.weight");
  for (const auto& alias : aliases) {
    const auto a = out.tensors.find(alias);
    if (a == out.tensors.end()) continue;
    const auto s = out.tensors.find(shared);
    if (s == out.tensors.end()) {  // stored under an alias only: that is the shared tensor
      out.tensors[shared] = a->second;
    } else {
      KILN_CHECK(same_values(s->second, a->second), origin, ": the checkpoint's '", alias,
                 "' differs from '", shared, "', but ",
                 alias == "lm_head.weight"
                     ? "the config ties them (tie_word_embeddings is true or absent)"
                     : "the encoder and decoder always use the shared embedding");
    }
    out.tensors.erase(alias);
  }
  return out;
}

}  // namespace kiln::nn
