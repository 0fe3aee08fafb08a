#include "tokenizer/post_processors.h"

#include <map>

#include "tokenizer/unicode.h"

namespace kiln::tok {

void default_post_process(Encoding& a, Encoding* b) {
  for (auto& s : a.sequence_ids) s = s < 0 ? s : 0;
  if (!b) return;
  for (auto& s : b->sequence_ids) s = s < 0 ? s : 1;
  a.append(std::move(*b));
}

void trim_byte_level_offsets(Encoding& e, bool add_prefix_space) {
  for (size_t i = 0; i < e.size(); ++i) {
    const std::string& tok = e.tokens[i];
    auto is_space = [](char32_t c) { return c == 0x120 || is_whitespace(c); };  // 0x120 is 'Ġ'
    size_t leading = 0, trailing = 0;
    for (size_t k = 0; k < tok.size() && is_space(next_code_point(tok, k));) ++leading;
    for (size_t end = tok.size(); end > 0;) {
      size_t start = end - 1;
      while (start > 0 && is_continuation_byte(static_cast<unsigned char>(tok[start]))) --start;
      size_t k = start;
      if (!is_space(next_code_point(tok, k))) break;
      ++trailing;
      end = start;
    }
    if (leading == 0 && trailing == 0) continue;
    Offsets& off = e.offsets[i];
    if (leading > 0) {
      const bool is_first = i == 0 || off.first == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;  // keep the space we added
      off.first = std::min<uint32_t>(off.first + static_cast<uint32_t>(leading), off.second);
    }
    if (trailing > 0 && off.second >= trailing) {
      off.second = std::max<uint32_t>(off.second - static_cast<uint32_t>(trailing), off.first);
    }
  }
}

namespace {

struct SpecialToken {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
};

void push_special(Encoding& out, const SpecialToken& st, int32_t type_id) {
  for (size_t k = 0; k < st.ids.size(); ++k)
    out.push_back(st.ids[k], st.tokens[k], {0, 0}, type_id, -1, -1, true);
}

void set_sequence(Encoding& e, int32_t type_id, int32_t sequence_id) {
  std::fill(e.type_ids.begin(), e.type_ids.end(), type_id);
  for (auto& s : e.sequence_ids) s = sequence_id;
}

class TemplateProcessing : public PostProcessor {
 public:
  struct Piece {
    bool is_sequence;
    std::string id;  // "A"/"B" or special token name
    int32_t type_id;
  };
  TemplateProcessing(std::vector<Piece> single, std::vector<Piece> pair,
                     std::map<std::string, SpecialToken> specials)
      : single_(std::move(single)), pair_(std::move(pair)), specials_(std::move(specials)) {}

  size_t added_tokens(bool pair) const override {
    size_t n = 0;
    for (const auto& p : pair ? pair_ : single_)
      if (!p.is_sequence) n += specials_.at(p.id).ids.size();
    return n;
  }

  void process(Encoding& a, Encoding* b, bool add_special_tokens) const override {
    Encoding out;
    out.reserve(a.size() + (b ? b->size() : 0) + added_tokens(b != nullptr));
    for (const auto& p : b ? pair_ : single_) {
      if (p.is_sequence) {
        Encoding& src = (p.id == "A" || !b) ? a : *b;
        set_sequence(src, p.type_id, &src == &a ? 0 : 1);
        out.append(std::move(src));
      } else if (add_special_tokens) {
        push_special(out, specials_.at(p.id), p.type_id);
      }
    }
    a = std::move(out);
  }

 private:
  std::vector<Piece> single_, pair_;
  std::map<std::string, SpecialToken> specials_;
};

// BertProcessing and RobertaProcessing: cls A sep [sep] B sep.
class ClsSepProcessing : public PostProcessor {
 public:
  ClsSepProcessing(SpecialToken cls, SpecialToken sep, bool roberta, bool trim_offsets,
                   bool add_prefix_space)
      : cls_(std::move(cls)),
        sep_(std::move(sep)),
        roberta_(roberta),
        trim_(trim_offsets),
        add_prefix_space_(add_prefix_space) {}

  size_t added_tokens(bool pair) const override { return pair ? (roberta_ ? 4 : 3) : 2; }

  void process(Encoding& a, Encoding* b, bool add_special_tokens) const override {
    if (roberta_ && trim_) {
      trim_byte_level_offsets(a, add_prefix_space_);
      if (b) trim_byte_level_offsets(*b, add_prefix_space_);
    }
    if (!add_special_tokens) {
      default_post_process(a, b);
      return;
    }
    Encoding out;
    out.reserve(a.size() + (b ? b->size() : 0) + added_tokens(b != nullptr));
    push_special(out, cls_, 0);
    set_sequence(a, 0, 0);
    out.append(std::move(a));
    push_special(out, sep_, 0);
    if (b) {
      // RoBERTa has no segment embeddings: everything stays type 0.
      const int32_t type_b = roberta_ ? 0 : 1;
      if (roberta_) push_special(out, sep_, 0);
      set_sequence(*b, type_b, 1);
      out.append(std::move(*b));
      push_special(out, sep_, type_b);
    }
    a = std::move(out);
  }

 private:
  SpecialToken cls_, sep_;
  bool roberta_, trim_, add_prefix_space_;
};

class ByteLevelProcessing : public PostProcessor {
 public:
  ByteLevelProcessing(bool trim_offsets, bool add_prefix_space)
      : trim_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens(bool) const override { return 0; }
  void process(Encoding& a, Encoding* b, bool) const override {
    if (trim_) {
      trim_byte_level_offsets(a, add_prefix_space_);
      if (b) trim_byte_level_offsets(*b, add_prefix_space_);
    }
    default_post_process(a, b);
  }

 private:
  bool trim_, add_prefix_space_;
};

class SequenceProcessing : public PostProcessor {
 public:
  explicit SequenceProcessing(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  size_t added_tokens(bool pair) const override {
    size_t n = 0;
    for (const auto& p : parts_) n += p->added_tokens(pair);
    return n;
  }
  void process(Encoding& a, Encoding* b, bool add_special_tokens) const override {
    // Each stage sees the previous stage's single combined encoding.
    for (size_t i = 0; i < parts_.size(); ++i) {
      parts_[i]->process(a, i == 0 ? b : nullptr, add_special_tokens);
    }
    if (parts_.empty()) default_post_process(a, b);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

SpecialToken pair_token(const Json& j, const std::string& key, const std::string& path) {
  const Json& v = require(j, key, path);
  if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer())
    field_error(path + "." + key, "must be [\"token\", id]");
  return {{v[1].get<int32_t>()}, {v[0].get<std::string>()}};
}

std::vector<TemplateProcessing::Piece> read_template(
    const Json& j, const std::string& key, const std::string& path,
    const std::map<std::string, SpecialToken>& sp) {
  const Json& list = require(j, key, path);
  const std::string where = path + "." + key;
  if (!list.is_array()) field_error(where, "must be an array of template pieces");
  std::vector<TemplateProcessing::Piece> pieces;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const Json& item = list[i];
    TemplateProcessing::Piece p;
    if (item.is_object() && item.contains("Sequence")) {
      p.is_sequence = true;
      p.id = get_string(item["Sequence"], "id", at + ".Sequence");
      if (p.id != "A" && p.id != "B") field_error(at + ".Sequence.id", "must be \"A\" or \"B\"");
      p.type_id =
          static_cast<int32_t>(get_int_or(item["Sequence"], "type_id", at + ".Sequence", 0));
    } else if (item.is_object() && item.contains("SpecialToken")) {
      p.is_sequence = false;
      p.id = get_string(item["SpecialToken"], "id", at + ".SpecialToken");
      p.type_id = static_cast<int32_t>(
          get_int_or(item["SpecialToken"], "type_id", at + ".SpecialToken", 0));
      if (!sp.count(p.id))
        field_error(at + ".SpecialToken.id",
                    "names '" + p.id + "', which is not in special_tokens");
    } else {
      field_error(at, "must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
    pieces.push_back(std::move(p));
  }
  return pieces;
}

}  // namespace

std::unique_ptr<PostProcessor> post_processor_from_json(const Json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, path);
  if (type == "TemplateProcessing") {
    std::map<std::string, SpecialToken> specials;
    if (auto it = j.find("special_tokens"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) field_error(path + ".special_tokens", "must be an object");
      for (auto s = it->begin(); s != it->end(); ++s) {
        const std::string at = path + ".special_tokens." + s.key();
        SpecialToken st;
        const Json& ids = require(*s, "ids", at);
        const Json& toks = require(*s, "tokens", at);
        if (!ids.is_array() || !toks.is_array() || ids.size() != toks.size())
          field_error(at, "must have arrays 'ids' and 'tokens' of the same length");
        for (size_t k = 0; k < ids.size(); ++k) {
          if (!ids[k].is_number_integer()) field_error(at + ".ids", "must hold integers");
          if (!toks[k].is_string()) field_error(at + ".tokens", "must hold strings");
          st.ids.push_back(ids[k].get<int32_t>());
          st.tokens.push_back(toks[k].get<std::string>());
        }
        specials[s.key()] = std::move(st);
      }
    }
    auto single = read_template(j, "single", path, specials);
    auto pair = read_template(j, "pair", path, specials);
    return std::make_unique<TemplateProcessing>(std::move(single), std::move(pair),
                                                std::move(specials));
  }
  if (type == "BertProcessing") {
    return std::make_unique<ClsSepProcessing>(pair_token(j, "cls", path),
                                              pair_token(j, "sep", path), false, false, false);
  }
  if (type == "RobertaProcessing") {
    return std::make_unique<ClsSepProcessing>(
        pair_token(j, "cls", path), pair_token(j, "sep", path), true,
        get_bool_or(j, "trim_offsets", path, true), get_bool_or(j, "add_prefix_space", path, true));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelProcessing>(get_bool_or(j, "trim_offsets", path, true),
                                                 get_bool_or(j, "add_prefix_space", path, true));
  }
  if (type == "Sequence") {
    const Json& list = require(j, "processors", path);
    if (!list.is_array()) field_error(path + ".processors", "must be an array");
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = post_processor_from_json(list[i], path + ".processors[" + std::to_string(i) + "]");
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceProcessing>(std::move(parts));
  }
  field_error(path + ".type", "has unsupported post-processor type '" + type +
                                  "' (supported: TemplateProcessing, BertProcessing, "
                                  "RobertaProcessing, ByteLevel, Sequence)");
}

}  // namespace kiln::tok
