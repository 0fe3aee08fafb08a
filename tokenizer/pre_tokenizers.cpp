#include "tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <functional>

#include "tokenizer/gpt2_split.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {
namespace {

// Piece of a word with whether the splitting pattern matched it.
struct Piece {
  uint32_t begin, end;
  bool match;
};

// Applies a split behavior to pieces that tile one word and appends the resulting words.
void emit_with_behavior(const std::vector<Piece>& pieces, SplitBehavior behavior, bool invert,
                        bool prefix_space, std::vector<Word>& out) {
  const size_t first_out = out.size();
  auto push = [&](uint32_t b, uint32_t e) {
    if (e > b) out.push_back({b, e, false});
  };
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& p : pieces)
        if (p.match == invert) push(p.begin, p.end);
      break;
    case SplitBehavior::kIsolated:
      for (const auto& p : pieces) push(p.begin, p.end);
      break;
    case SplitBehavior::kContiguous: {
      size_t i = 0;
      while (i < pieces.size()) {
        size_t j = i + 1;
        if (pieces[i].match != invert)
          while (j < pieces.size() && pieces[j].match != invert) ++j;
        push(pieces[i].begin, pieces[j - 1].end);
        i = j;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      // A match joins the piece before it.
      uint32_t start = pieces.empty() ? 0 : pieces[0].begin;
      for (size_t i = 0; i < pieces.size(); ++i) {
        const bool last = i + 1 == pieces.size();
        if (pieces[i].match != invert || last || pieces[i + 1].match == invert) {
          push(start, pieces[i].end);
          start = pieces[i].end;
        }
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      // A match joins the piece after it.
      uint32_t start = pieces.empty() ? 0 : pieces[0].begin;
      for (size_t i = 0; i < pieces.size(); ++i) {
        if (pieces[i].match != invert && i + 1 < pieces.size()) continue;
        push(start, pieces[i].end);
        start = pieces[i].end;
      }
      break;
    }
  }
  if (prefix_space && out.size() > first_out) out[first_out].prefix_space = true;
}

// Splits each word where pred(cp) holds, one match per character.
class CharSplitter : public PreTokenizer {
 public:
  CharSplitter(std::function<bool(char32_t)> pred, SplitBehavior behavior)
      : pred_(std::move(pred)), behavior_(behavior) {}
  void split(std::string_view text, std::vector<Word>& words,
             std::vector<Word>& scratch) const override {
    scratch.clear();
    std::vector<Piece> pieces;
    for (const Word& w : words) {
      pieces.clear();
      size_t i = w.begin;
      while (i < w.end) {
        const size_t start = i;
        const char32_t cp = next_code_point(text, i);
        const bool m = pred_(cp);
        if (!m && !pieces.empty() && !pieces.back().match) {
          pieces.back().end = static_cast<uint32_t>(i);
        } else {
          pieces.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(i), m});
        }
      }
      emit_with_behavior(pieces, behavior_, false, w.prefix_space, scratch);
    }
    words.swap(scratch);
  }

 private:
  std::function<bool(char32_t)> pred_;
  SplitBehavior behavior_;
};

// BertPreTokenizer in one pass: whitespace separates words and is dropped, every punctuation
// character is a word of its own.
class BertPreTokenizer : public PreTokenizer {
 public:
  void split(std::string_view text, std::vector<Word>& words,
             std::vector<Word>& scratch) const override {
    scratch.clear();
    for (const Word& w : words) {
      size_t i = w.begin;
      uint32_t start = w.begin;
      bool in_word = false;
      while (i < w.end) {
        const size_t at = i;
        const auto b = static_cast<unsigned char>(text[i]);
        bool space, punct;
        if (b < 0x80) {
          ++i;
          space = b == ' ' || (b >= 0x09 && b <= 0x0D);
          punct = !space && is_bert_punctuation(b);
        } else {
          const char32_t cp = next_code_point(text, i);
          space = is_whitespace(cp);
          punct = !space && is_bert_punctuation(cp);
        }
        if (space || punct) {
          if (in_word) scratch.push_back({start, static_cast<uint32_t>(at), false});
          in_word = false;
          if (punct)
            scratch.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(i), false});
        } else if (!in_word) {
          in_word = true;
          start = static_cast<uint32_t>(at);
        }
      }
      if (in_word) scratch.push_back({start, w.end, false});
    }
    words.swap(scratch);
  }
};

// Hugging Face's Whitespace pre-tokenizer: the pattern \w+|[^\w\s]+ (whitespace dropped).
class WhitespacePreTokenizer : public PreTokenizer {
 public:
  void split(std::string_view text, std::vector<Word>& words,
             std::vector<Word>& scratch) const override {
    scratch.clear();
    for (const Word& w : words) {
      size_t i = w.begin;
      int current = -1;  // 0 word chars, 1 other, -1 none
      uint32_t start = w.begin;
      while (i < w.end) {
        const size_t at = i;
        const char32_t cp = next_code_point(text, i);
        const int cls = is_whitespace(cp) ? -1 : is_word_char(cp) ? 0 : 1;
        if (cls != current) {
          if (current != -1) scratch.push_back({start, static_cast<uint32_t>(at), false});
          start = static_cast<uint32_t>(at);
          current = cls;
        }
      }
      if (current != -1) scratch.push_back({start, w.end, false});
    }
    words.swap(scratch);
  }
};

// Splits with the GPT-2 pattern, over " " + word when the word carries a virtual prefix space.
void gpt2_split_words(std::string_view text, const std::vector<Word>& words,
                      std::vector<Word>& out) {
  std::string with_space;
  for (const Word& w : words) {
    if (!w.prefix_space) {
      gpt2_split(text.substr(w.begin, w.end - w.begin), [&](size_t a, size_t b) {
        out.push_back({static_cast<uint32_t>(w.begin + a), static_cast<uint32_t>(w.begin + b)});
      });
      continue;
    }
    with_space.resize(w.end - w.begin + 1);
    with_space[0] = ' ';
    std::copy(text.begin() + w.begin, text.begin() + w.end, with_space.begin() + 1);
    gpt2_split(with_space, [&](size_t a, size_t b) {
      if (a == 0) {
        out.push_back({w.begin, static_cast<uint32_t>(w.begin + b - 1), true});
      } else {
        out.push_back(
            {static_cast<uint32_t>(w.begin + a - 1), static_cast<uint32_t>(w.begin + b - 1)});
      }
    });
  }
}

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void split(std::string_view text, std::vector<Word>& words,
             std::vector<Word>& scratch) const override {
    if (add_prefix_space_) {
      for (Word& w : words)
        if (!w.prefix_space && w.end > w.begin && text[w.begin] != ' ') w.prefix_space = true;
    }
    if (!use_regex_) return;
    scratch.clear();
    gpt2_split_words(text, words, scratch);
    words.swap(scratch);
  }

 private:
  bool add_prefix_space_, use_regex_;
};

// "Split" with the GPT-2 regex, Isolated: the same pieces as ByteLevel's regex.
class Gpt2PatternSplit : public PreTokenizer {
 public:
  void split(std::string_view text, std::vector<Word>& words,
             std::vector<Word>& scratch) const override {
    scratch.clear();
    gpt2_split_words(text, words, scratch);
    words.swap(scratch);
  }
};

// "Split" on a literal string.
class StringSplit : public PreTokenizer {
 public:
  StringSplit(std::string pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void split(std::string_view text, std::vector<Word>& words,
             std::vector<Word>& scratch) const override {
    scratch.clear();
    std::vector<Piece> pieces;
    for (const Word& w : words) {
      pieces.clear();
      const std::string_view s = text.substr(w.begin, w.end - w.begin);
      size_t pos = 0;
      while (!pattern_.empty()) {
        const size_t hit = s.find(pattern_, pos);
        if (hit == std::string_view::npos) break;
        if (hit > pos) pieces.push_back({w.begin + (uint32_t)pos, w.begin + (uint32_t)hit, false});
        pieces.push_back(
            {w.begin + (uint32_t)hit, w.begin + (uint32_t)(hit + pattern_.size()), true});
        pos = hit + pattern_.size();
      }
      if (pos < s.size()) pieces.push_back({w.begin + (uint32_t)pos, w.end, false});
      emit_with_behavior(pieces, behavior_, invert_, w.prefix_space, scratch);
    }
    words.swap(scratch);
  }

 private:
  std::string pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void split(std::string_view text, std::vector<Word>& words,
             std::vector<Word>& scratch) const override {
    for (const auto& p : parts_) p->split(text, words, scratch);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

SplitBehavior behavior_from_json(const Json& j, const std::string& key, const std::string& path,
                                 SplitBehavior fallback) {
  const std::string name = get_string_or(j, key, path, "");
  if (name.empty()) return fallback;
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  field_error(path + "." + key, "has unknown split behavior '" + name +
                                    "' (expected Removed, Isolated, MergedWithPrevious, "
                                    "MergedWithNext or Contiguous)");
}

}  // namespace

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() {
  return std::make_unique<BertPreTokenizer>();
}

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}

std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const Json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, path);
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "ByteLevel") {
    return make_byte_level_pre_tokenizer(get_bool_or(j, "add_prefix_space", path, true),
                                         get_bool_or(j, "use_regex", path, true));
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") {
    return std::make_unique<CharSplitter>([](char32_t c) { return is_whitespace(c); },
                                          SplitBehavior::kRemoved);
  }
  if (type == "Punctuation") {
    return std::make_unique<CharSplitter>(
        [](char32_t c) { return is_bert_punctuation(c); },
        behavior_from_json(j, "behavior", path, SplitBehavior::kIsolated));
  }
  if (type == "Digits") {
    const bool individual = get_bool_or(j, "individual_digits", path, false);
    return std::make_unique<CharSplitter>(
        [](char32_t c) { return is_number(c); },
        individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }
  if (type == "Split") {
    const Json& pattern = require(j, "pattern", path);
    const SplitBehavior behavior = behavior_from_json(j, "behavior", path, SplitBehavior::kRemoved);
    const bool invert = get_bool_or(j, "invert", path, false);
    if (pattern.is_object() && pattern.contains("String")) {
      return std::make_unique<StringSplit>(get_string(pattern, "String", path + ".pattern"),
                                           behavior, invert);
    }
    if (pattern.is_object() && pattern.contains("Regex")) {
      const std::string re = get_string(pattern, "Regex", path + ".pattern");
      if (re == kGpt2Pattern && behavior == SplitBehavior::kIsolated && !invert)
        return std::make_unique<Gpt2PatternSplit>();
      field_error(path + ".pattern.Regex",
                  "is a regular expression kiln does not implement (only the GPT-2 pattern with "
                  "behavior Isolated is supported): " +
                      re);
    }
    field_error(path + ".pattern", "must be {\"String\": ...} or {\"Regex\": ...}");
  }
  if (type == "Sequence") {
    const Json& list = require(j, "pretokenizers", path);
    if (!list.is_array()) field_error(path + ".pretokenizers", "must be an array");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = pre_tokenizer_from_json(list[i], path + ".pretokenizers[" + std::to_string(i) + "]");
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  field_error(path + ".type", "has unsupported pre-tokenizer type '" + type +
                                  "' (supported: BertPreTokenizer, ByteLevel, Whitespace, "
                                  "WhitespaceSplit, Punctuation, Digits, Split, Sequence)");
}

}  // namespace kiln::tok
