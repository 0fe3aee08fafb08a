#include "tokenizer/decoders.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  size_t pos = 0;
  std::string out;
  bool changed = false;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    if (!changed) out.reserve(s.size());
    changed = true;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  if (!changed) return;
  out.append(s, pos, std::string::npos);
  s.swap(out);
}
}  // namespace

std::string cleanup_tokenization_spaces(std::string s) {
  // Same replacements, same order as Hugging Face.
  replace_all(s, " .", ".");
  replace_all(s, " ?", "?");
  replace_all(s, " !", "!");
  replace_all(s, " ,", ",");
  replace_all(s, " ' ", "'");
  replace_all(s, " n't", "n't");
  replace_all(s, " 'm", "'m");
  replace_all(s, " do not", " don't");
  replace_all(s, " 's", "'s");
  replace_all(s, " 've", "'ve");
  replace_all(s, " 're", "'re");
  return s;
}

namespace {

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0) {
          t.erase(0, prefix_.size());
        } else {
          t.insert(t.begin(), ' ');
        }
      }
      // Per token, as Hugging Face does: " ' " never matches inside one token.
      if (cleanup_) t = cleanup_tokenization_spaces(std::move(t));
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      // A token whose characters are all byte-level characters becomes those bytes; any other
      // token (an added token spelled in plain text) is kept as it is.
      const size_t mark = bytes.size();
      bool all = true;
      size_t k = 0;
      while (k < t.size()) {
        const int b = char_to_byte(next_code_point(t, k));
        if (b < 0) {
          all = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!all) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> decoder_from_json(const Json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, path);
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDecoder>(get_string_or(j, "prefix", path, "##"),
                                              get_bool_or(j, "cleanup", path, true));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Sequence") {
    const Json& list = require(j, "decoders", path);
    if (!list.is_array()) field_error(path + ".decoders", "must be an array");
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = decoder_from_json(list[i], path + ".decoders[" + std::to_string(i) + "]");
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  field_error(path + ".type", "has unsupported decoder type '" + type +
                                  "' (supported: WordPiece, ByteLevel, Sequence)");
}

}  // namespace kiln::tok
