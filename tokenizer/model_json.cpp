// Reading the "model" object of a tokenizer.json.
#include "tokenizer/model.h"

namespace kiln::tok {
namespace {

std::vector<std::pair<std::string, int32_t>> read_vocab(const Json& model,
                                                        const std::string& path) {
  const Json& v = require(model, "vocab", path);
  if (!v.is_object()) field_error(path + ".vocab", "must be an object of token -> id");
  std::vector<std::pair<std::string, int32_t>> entries;
  entries.reserve(v.size());
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > INT32_MAX) {
      field_error(path + ".vocab[\"" + it.key() + "\"]", "must be a non-negative integer id");
    }
    entries.emplace_back(it.key(), static_cast<int32_t>(it->get<int64_t>()));
  }
  return entries;
}

std::vector<std::pair<std::string, std::string>> read_merges(const Json& model,
                                                             const std::string& path) {
  std::vector<std::pair<std::string, std::string>> merges;
  auto it = model.find("merges");
  if (it == model.end() || it->is_null()) return merges;
  if (!it->is_array()) field_error(path + ".merges", "must be an array");
  merges.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& m = (*it)[i];
    const std::string where = path + ".merges[" + std::to_string(i) + "]";
    if (m.is_string()) {  // "a b" (tokenizers < 0.20)
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 >= s.size() ||
          s.find(' ', space + 1) != std::string::npos) {
        field_error(where, "must be two tokens separated by one space, got \"" + s + "\"");
      }
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());  // ["a", "b"]
    } else {
      field_error(where, "must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  return merges;
}

}  // namespace

std::unique_ptr<Model> model_from_json(const Json& j, const std::string& path, bool byte_level) {
  if (!j.is_object()) field_error(path, "must be an object");
  // Older files omit "type"; the presence of merges then identifies BPE.
  std::string type = get_string_or(j, "type", path, "");
  if (type.empty()) type = j.contains("merges") ? "BPE" : j.contains("vocab") ? "WordPiece" : "";
  if (type == "WordPiece") {
    WordPieceOptions o;
    o.unk_token = get_string_or(j, "unk_token", path, o.unk_token);
    o.continuing_subword_prefix =
        get_string_or(j, "continuing_subword_prefix", path, o.continuing_subword_prefix);
    const int64_t max_chars = get_int_or(j, "max_input_chars_per_word", path,
                                         static_cast<int64_t>(o.max_input_chars_per_word));
    if (max_chars < 0) field_error(path + ".max_input_chars_per_word", "must not be negative");
    o.max_input_chars_per_word = static_cast<size_t>(max_chars);
    try {
      return make_wordpiece(read_vocab(j, path), o);
    } catch (const Error& e) {
      throw Error(std::string("tokenizer.json: field '") + path + "': " + e.what());
    }
  }
  if (type == "BPE") {
    BpeOptions o;
    if (auto it = j.find("unk_token"); it != j.end() && !it->is_null()) {
      if (!it->is_string()) field_error(path + ".unk_token", "must be a string or null");
      o.unk_token = it->get<std::string>();
    }
    o.continuing_subword_prefix = get_string_or(j, "continuing_subword_prefix", path, "");
    o.end_of_word_suffix = get_string_or(j, "end_of_word_suffix", path, "");
    o.fuse_unk = get_bool_or(j, "fuse_unk", path, false);
    o.byte_fallback = get_bool_or(j, "byte_fallback", path, false);
    o.ignore_merges = get_bool_or(j, "ignore_merges", path, false);
    o.byte_level = byte_level;
    if (auto it = j.find("dropout"); it != j.end() && !it->is_null()) {
      if (!it->is_number()) field_error(path + ".dropout", "must be a number or null");
      if (it->get<double>() > 0.0)
        field_error(path + ".dropout",
                    "is set; BPE dropout (a training-time randomisation) is not supported");
    }
    auto vocab = read_vocab(j, path);
    auto merges = read_merges(j, path);
    try {
      return make_bpe(std::move(vocab), merges, o);
    } catch (const Error& e) {
      throw Error(std::string("tokenizer.json: field '") + path + "': " + e.what());
    }
  }
  if (type.empty()) field_error(path + ".type", "is missing");
  field_error(path + ".type",
              "has unsupported model type '" + type + "' (supported: WordPiece, BPE)");
}

}  // namespace kiln::tok
