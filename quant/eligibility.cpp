#include "quant/eligibility.h"

#include <fnmatch.h>

#include <map>
#include <set>

#include "nn/image_layers.h"
#include "nn/layers.h"

namespace kiln::quant {

namespace {

const std::set<std::string> kHeadModules = {
    "classifier",          "lm_head", "qa_outputs", "pre_classifier",
    "classification_head", "cls",     "score",      "meta_head"};

bool is_head(const std::string& path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string::npos) dot = path.size();
    if (kHeadModules.count(path.substr(start, dot - start))) return true;
    start = dot + 1;
  }
  return false;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_word_embedding(const std::string& path) {
  return ends_with(path, "word_embeddings") || ends_with(path, "embed_tokens") ||
         ends_with(path, "shared");
}

}  // namespace

bool matches_skip(const std::string& name, const std::string& pattern) {
  if (pattern.find_first_of("*?[") != std::string::npos)
    return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
  return name.find(pattern) != std::string::npos;
}

std::vector<Candidate> list_candidates(nn::Module& model, const std::vector<std::string>& skip,
                                       bool include_head) {
  // A tied tensor is listed once, under its canonical name (the one the file stores); when one
  // of its other names is a head (BART's LM head is its shared embedding) the head rule applies.
  const std::map<std::string, std::string> aliases = model.parameter_aliases();
  std::map<std::string, std::string> tied_head;  // canonical -> the head name tied to it
  for (const auto& [alias, canonical] : aliases)
    if (is_head(alias.substr(0, alias.rfind('.')))) tied_head[canonical] = alias;
  std::vector<Candidate> out;
  std::set<std::string> seen;
  bool first_conv = true;
  for (auto& [path, m] : model.named_modules()) {
    const std::string name = path.empty() ? "weight" : path + ".weight";
    Candidate c;
    c.name = name;
    if (auto* lin = dynamic_cast<nn::Linear*>(m)) {
      if (!lin->weight.defined()) continue;
      c.kind = "linear";
      c.shape = lin->weight.shape();
      if (lin->weight.dim() != 2)
        c.reason = "not a 2-D weight";
      else if (is_head(path) && !include_head)
        c.reason = "classifier head: decides every prediction; kept float unless --include-head";
    } else if (auto* conv = dynamic_cast<nn::Conv2d*>(m)) {
      if (!conv->weight.defined()) continue;
      c.kind = "conv";
      c.shape = conv->weight.shape();
      if (conv->options.groups != 1)
        c.reason = "grouped convolution: kiln quantizes convolutions with groups = 1 only";
      else if (first_conv && !include_head)
        c.reason =
            "first convolution (stem): sees the raw pixels; kept float unless --include-head";
      first_conv = false;
    } else if (auto* emb = dynamic_cast<nn::Embedding*>(m)) {
      if (!emb->weight.defined()) continue;
      c.kind = "embedding";
      c.shape = emb->weight.shape();
      if (!is_word_embedding(path))
        c.reason = "position/type embedding: small, added to every token";
    } else {
      continue;
    }
    if (aliases.count(name) || !seen.insert(name).second) continue;
    if (c.reason.empty() && tied_head.count(name) && !include_head)
      c.reason = "tied to " + tied_head[name] +
                 " (the head): decides every prediction; kept float unless --include-head";
    if (c.reason.empty()) {
      for (const auto& p : skip)
        if (matches_skip(name, p)) {
          c.reason = "--skip " + p;
          break;
        }
    }
    c.eligible = c.reason.empty();
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace kiln::quant
