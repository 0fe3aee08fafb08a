#include "tokenizer/normalizers.h"

#include <utf8proc.h>

#include <algorithm>
#include <vector>

namespace kiln::tok {
namespace {

// Canonical (or compatibility) decomposition of one code point; returns the count written.
int decompose(char32_t cp, bool compat, char32_t* out, int cap) {
  int boundclass = 0;
  const int opts = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
  const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp),
                                         reinterpret_cast<utf8proc_int32_t*>(out), cap,
                                         static_cast<utf8proc_option_t>(opts), &boundclass);
  if (n <= 0 || n > cap) {
    out[0] = cp;
    return 1;
  }
  return static_cast<int>(n);
}

int combining_class(char32_t cp) {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class;
}

struct AlignedChar {
  char32_t cp;
  uint32_t ob, oe;
};

std::vector<AlignedChar> to_chars(const NormalizedText& t) {
  std::vector<AlignedChar> chars;
  chars.reserve(t.text.size());
  for_each_aligned_char(t, [&](char32_t cp, size_t, size_t, uint32_t ob, uint32_t oe) {
    chars.push_back({cp, ob, oe});
  });
  return chars;
}

NormalizedText from_chars(const std::vector<AlignedChar>& chars, size_t reserve) {
  NormalizedBuilder b(reserve);
  for (const auto& c : chars) b.push(c.cp, c.ob, c.oe);
  return b.finish();
}

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean, bool chinese, bool strip, bool lower)
      : clean_(clean), chinese_(chinese), strip_(strip), lower_(lower) {}

  void normalize(NormalizedText& t) const override {
    NormalizedBuilder b(t.text.size() + t.text.size() / 8);
    char32_t decomposed[32];
    std::string lowered;
    for_each_aligned_char(t, [&](char32_t cp, size_t, size_t, uint32_t ob, uint32_t oe) {
      if (cp < 0x80) {  // hot path: ASCII never decomposes and is never CJK
        if (clean_) {
          if (cp == '\t' || cp == '\n' || cp == '\r') {
            cp = ' ';
          } else if (cp < 0x20 || cp == 0x7F) {
            return;
          }
        }
        if (lower_ && cp >= 'A' && cp <= 'Z') cp += 32;
        b.push_ascii(static_cast<char>(cp), ob, oe);
        return;
      }
      if (clean_) {
        if (cp == 0xFFFD || is_other(cp)) return;
        if (is_whitespace(cp)) cp = ' ';
      }
      const bool spaced = chinese_ && is_cjk(cp);
      if (spaced) b.push_ascii(' ', ob, oe);
      int n = 1;
      decomposed[0] = cp;
      if (strip_) n = decompose(cp, false, decomposed, 32);
      for (int k = 0; k < n; ++k) {
        const char32_t c = decomposed[k];
        if (strip_ && is_mark_nonspacing(c)) continue;
        if (lower_) {
          lowered.clear();
          append_lowercase(lowered, c);
          b.push_utf8(lowered, ob, oe);
        } else {
          b.push(c, ob, oe);
        }
      }
      if (spaced) b.push_ascii(' ', ob, oe);
    });
    t = b.finish();
  }

 private:
  bool clean_, chinese_, strip_, lower_;
};

// NFD / NFKD / NFC / NFKC. Decomposition keeps each source character's alignment on everything it
// expands to; canonical reordering moves alignments with their marks; a composed character takes
// the alignment of its starter, as Hugging Face does.
class UnicodeNormalizer : public Normalizer {
 public:
  UnicodeNormalizer(bool compat, bool compose) : compat_(compat), compose_(compose) {}

  void normalize(NormalizedText& t) const override {
    std::vector<AlignedChar> chars;
    chars.reserve(t.text.size());
    char32_t buf[32];
    for_each_aligned_char(t, [&](char32_t cp, size_t, size_t, uint32_t ob, uint32_t oe) {
      const int n = cp < 0x80 ? (buf[0] = cp, 1) : decompose(cp, compat_, buf, 32);
      for (int k = 0; k < n; ++k) chars.push_back({buf[k], ob, oe});
    });
    reorder(chars);
    if (compose_) chars = compose(chars);
    t = from_chars(chars, t.text.size());
  }

 private:
  static void reorder(std::vector<AlignedChar>& chars) {
    size_t i = 0;
    while (i < chars.size()) {
      if (chars[i].cp < 0x300 || combining_class(chars[i].cp) == 0) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < chars.size() && chars[j].cp >= 0x300 && combining_class(chars[j].cp) != 0) ++j;
      std::stable_sort(chars.begin() + i, chars.begin() + j, [](const auto& a, const auto& b) {
        return combining_class(a.cp) < combining_class(b.cp);
      });
      i = j;
    }
  }

  static std::vector<AlignedChar> compose(const std::vector<AlignedChar>& chars) {
    std::vector<utf8proc_int32_t> buf(chars.size() + 1);
    for (size_t i = 0; i < chars.size(); ++i) buf[i] = static_cast<utf8proc_int32_t>(chars[i].cp);
    const auto n = utf8proc_normalize_utf32(buf.data(), static_cast<utf8proc_ssize_t>(chars.size()),
                                            UTF8PROC_COMPOSE);
    std::vector<AlignedChar> out;
    if (n < 0) return chars;
    out.reserve(static_cast<size_t>(n));
    // Walk both sequences: an unchanged character keeps its own alignment; a composed one takes
    // its starter's and consumes source characters until the next output character reappears.
    size_t src = 0;
    for (utf8proc_ssize_t k = 0; k < n; ++k) {
      const char32_t c = static_cast<char32_t>(buf[k]);
      const size_t at = std::min(src, chars.size() - 1);
      out.push_back({c, chars[at].ob, chars[at].oe});
      if (src < chars.size() && chars[src].cp == c) {
        ++src;
        continue;
      }
      ++src;
      const char32_t next = k + 1 < n ? static_cast<char32_t>(buf[k + 1]) : 0;
      while (src < chars.size() && chars[src].cp != next) ++src;
    }
    return out;
  }

  bool compat_, compose_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(NormalizedText& t) const override {
    NormalizedBuilder b(t.text.size());
    std::string lowered;
    for_each_aligned_char(t, [&](char32_t cp, size_t, size_t, uint32_t ob, uint32_t oe) {
      lowered.clear();
      append_lowercase(lowered, cp);
      b.push_utf8(lowered, ob, oe);
    });
    t = b.finish();
  }
};

// Hugging Face's StripAccents only removes non-spacing marks; it relies on an NFD before it.
class StripAccentsNormalizer : public Normalizer {
 public:
  void normalize(NormalizedText& t) const override {
    NormalizedBuilder b(t.text.size());
    for_each_aligned_char(t, [&](char32_t cp, size_t, size_t, uint32_t ob, uint32_t oe) {
      if (cp >= 0x300 && is_mark_nonspacing(cp)) return;
      b.push(cp, ob, oe);
    });
    t = b.finish();
  }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedText& t) const override {
    std::vector<AlignedChar> chars = to_chars(t);
    size_t a = 0, b = chars.size();
    if (left_)
      while (a < b && is_whitespace(chars[a].cp)) ++a;
    if (right_)
      while (b > a && is_whitespace(chars[b - 1].cp)) --b;
    chars = std::vector<AlignedChar>(chars.begin() + a, chars.begin() + b);
    t = from_chars(chars, t.text.size());
  }

 private:
  bool left_, right_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(NormalizedText& t) const override {
    if (t.text.empty()) return;
    std::vector<AlignedChar> chars = to_chars(t);
    NormalizedBuilder b(t.text.size() + prefix_.size());
    b.push_utf8(prefix_, chars[0].ob, chars[0].oe);  // inserted text aligns with the first char
    for (const auto& c : chars) b.push(c.cp, c.ob, c.oe);
    t = b.finish();
  }

 private:
  std::string prefix_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void normalize(NormalizedText& t) const override {
    for (const auto& p : parts_) p->normalize(t);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars,
                                                 bool strip_accents, bool lowercase) {
  return std::make_unique<BertNormalizer>(clean_text, handle_chinese_chars, strip_accents,
                                          lowercase);
}

std::unique_ptr<Normalizer> normalizer_from_json(const Json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, path);
  if (type == "BertNormalizer") {
    const bool lower = get_bool_or(j, "lowercase", path, true);
    // strip_accents: null means "follow lowercase", as in Hugging Face.
    const bool strip = get_bool_or(j, "strip_accents", path, lower);
    return make_bert_normalizer(get_bool_or(j, "clean_text", path, true),
                                get_bool_or(j, "handle_chinese_chars", path, true), strip, lower);
  }
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(false, false);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(true, false);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(false, true);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(true, true);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(get_bool_or(j, "strip_left", path, true),
                                             get_bool_or(j, "strip_right", path, true));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(get_string(j, "prepend", path));
  if (type == "Sequence") {
    const Json& list = require(j, "normalizers", path);
    if (!list.is_array()) field_error(path + ".normalizers", "must be an array");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = normalizer_from_json(list[i], path + ".normalizers[" + std::to_string(i) + "]");
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  field_error(path + ".type", "has unsupported normalizer type '" + type +
                                  "' (supported: BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, "
                                  "StripAccents, Strip, Prepend, Sequence)");
}

}  // namespace kiln::tok
