#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/normalizers.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

void AddedVocabulary::add(AddedToken t) {
  by_id_[t.id] = tokens_.size();
  tokens_.push_back(std::move(t));
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  for (const auto& t : tokens_)
    if (t.content == content) return &t;
  return nullptr;
}

void AddedVocabulary::finalize(const Normalizer* normalizer) {
  build(raw_, false, normalizer);
  build(normalized_, true, normalizer);
}

void AddedVocabulary::build(Matcher& m, bool normalized_set, const Normalizer* normalizer) {
  for (auto& v : m.by_first_byte) v.clear();
  m.any = false;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    const bool is_normalized = t.normalized;
    if (is_normalized != normalized_set || t.content.empty()) continue;
    std::string pattern = t.content;
    if (is_normalized && normalizer) {
      NormalizedText nt = NormalizedText::from_original(pattern, 0);
      normalizer->normalize(nt);
      pattern = nt.text;
    }
    if (pattern.empty()) continue;
    m.by_first_byte[static_cast<unsigned char>(pattern[0])].push_back(
        {std::move(pattern), static_cast<int32_t>(i)});
    m.any = true;
  }
  for (auto& v : m.by_first_byte) {
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.text.size() > b.text.size(); });
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized_set,
                            std::vector<Segment>& out) const {
  split_with(normalized_set ? normalized_ : raw_, text, out);
}

namespace {
// Last character of s is a word character (for single_word tokens).
bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s.size() - 1;
  while (i > 0 && is_continuation_byte(static_cast<unsigned char>(s[i]))) --i;
  size_t j = i;
  return is_word_char(next_code_point(s, j));
}
bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  return is_word_char(next_code_point(s, i));
}
}  // namespace

void AddedVocabulary::split_with(const Matcher& m, std::string_view text,
                                 std::vector<Segment>& out) const {
  out.clear();
  if (text.empty()) return;
  const auto n = static_cast<uint32_t>(text.size());
  if (!m.any) {
    out.push_back({0, n, -1});
    return;
  }
  uint32_t done = 0;  // end of the last emitted segment
  size_t i = 0;
  while (i < text.size()) {
    const auto& candidates = m.by_first_byte[static_cast<unsigned char>(text[i])];
    const Matcher::Pattern* hit = nullptr;
    for (const auto& p : candidates) {
      if (text.compare(i, p.text.size(), p.text) == 0) {
        hit = &p;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    const AddedToken& tok = tokens_[hit->token];
    size_t start = i, stop = i + hit->text.size();
    if (tok.single_word && ((start > 0 && ends_with_word(text.substr(0, start))) ||
                            (stop < text.size() && starts_with_word(text.substr(stop))))) {
      i = stop;  // a discarded match is not rescanned, as with Aho-Corasick's non-overlapping scan
      continue;
    }
    if (tok.lstrip) {
      size_t s = start;
      while (s > done) {
        size_t k = s - 1;
        while (k > done && is_continuation_byte(static_cast<unsigned char>(text[k]))) --k;
        size_t kk = k;
        if (!is_whitespace(next_code_point(text, kk))) break;
        s = k;
      }
      start = s;
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        size_t k = stop;
        if (!is_whitespace(next_code_point(text, k))) break;
        stop = k;
      }
    }
    if (start > done) out.push_back({done, static_cast<uint32_t>(start), -1});
    out.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(stop), hit->token});
    done = static_cast<uint32_t>(stop);
    i = stop;
  }
  if (done < n) out.push_back({done, n, -1});
}

}  // namespace kiln::tok
