// The pre-tokenizer.json layouts, converted to tokenizer.json form with the defaults Hugging Face's
// converters (transformers' BertConverter / RobertaConverter / GPT2Converter) use, so both layouts
// run through one loader and a converted tokenizer can be embedded in a model file as JSON.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "tokenizer/tokenizer_impl.h"

namespace kiln::tok {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A special token from the config: a plain string or an AddedToken object {"content": ...}.
Json special_from_config(const Json& config, const std::string& key, const std::string& fallback,
                         bool lstrip) {
  Json t = {{"content", fallback}, {"single_word", false}, {"lstrip", lstrip},
            {"rstrip", false},     {"normalized", false},  {"special", true}};
  if (!config.is_object()) return t;
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return t;
  if (it->is_string()) {
    t["content"] = it->get<std::string>();
  } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    for (const char* f : {"content", "single_word", "lstrip", "rstrip", "normalized"})
      if (it->contains(f)) t[f] = (*it)[f];
  } else {
    throw Error("config field '" + key + "' must be a string or an object with \"content\"");
  }
  return t;
}

// Special tokens that exist in the vocabulary get its ids; missing ones are appended after it.
Json added_tokens_for(std::vector<Json> specials, Json& vocab) {
  int32_t next_id = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    next_id = std::max(next_id, it->get<int32_t>() + 1);
  std::map<int32_t, Json> by_id;
  std::map<std::string, int32_t> seen;
  for (Json& t : specials) {
    const std::string content = t["content"].get<std::string>();
    if (seen.count(content)) continue;
    int32_t id;
    if (auto v = vocab.find(content); v != vocab.end()) {
      id = v->get<int32_t>();
    } else {
      id = next_id++;
    }
    seen[content] = id;  // e.g. BART's cls and bos are both <s>
    t["id"] = id;
    by_id[id] = t;
  }
  Json out = Json::array();
  for (auto& [id, t] : by_id) out.push_back(t);
  return out;
}

bool config_bool(const Json& config, const char* key, bool fallback) {
  if (!config.is_object()) return fallback;
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    throw Error(std::string("config field '") + key + "' must be true or false");
  return it->get<bool>();
}

int32_t id_of(const Json& added, const Json& t) {
  for (const auto& a : added)
    if (a["content"] == t["content"]) return a["id"].get<int32_t>();
  return 0;
}

}  // namespace

Json wordpiece_json_from_vocab_txt(const std::string& vocab_path, const Json& config) {
  const std::string text = slurp(vocab_path);
  Json vocab = Json::object();
  size_t pos = 0;
  int32_t index = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    // Like transformers' load_vocab: one token per line, only the newline is stripped, and a
    // repeated token keeps its last line number.
    vocab[text.substr(pos, nl - pos)] = index++;
    pos = nl + 1;
  }
  if (vocab.empty()) throw Error("vocab.txt is empty");

  const bool lowercase = config_bool(config, "do_lower_case", true);
  Json strip =
      config.is_object() && config.contains("strip_accents") ? config["strip_accents"] : Json();
  if (!strip.is_null() && !strip.is_boolean())
    throw Error("config field 'strip_accents' must be true, false or null");

  const Json unk = special_from_config(config, "unk_token", "[UNK]", false);
  const Json sep = special_from_config(config, "sep_token", "[SEP]", false);
  const Json pad = special_from_config(config, "pad_token", "[PAD]", false);
  const Json cls = special_from_config(config, "cls_token", "[CLS]", false);
  const Json mask = special_from_config(config, "mask_token", "[MASK]", false);
  const Json added = added_tokens_for({pad, unk, cls, sep, mask}, vocab);
  const std::string cls_s = cls["content"], sep_s = sep["content"];

  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = {{"type", "BertNormalizer"},
                     {"clean_text", true},
                     {"handle_chinese_chars", config_bool(config, "tokenize_chinese_chars", true)},
                     {"strip_accents", strip},
                     {"lowercase", lowercase}};
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  auto special_piece = [](const std::string& id, int type) {
    return Json{{"SpecialToken", {{"id", id}, {"type_id", type}}}};
  };
  auto seq_piece = [](const char* id, int type) {
    return Json{{"Sequence", {{"id", id}, {"type_id", type}}}};
  };
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {special_piece(cls_s, 0), seq_piece("A", 0), special_piece(sep_s, 0)}},
      {"pair",
       {special_piece(cls_s, 0), seq_piece("A", 0), special_piece(sep_s, 0), seq_piece("B", 1),
        special_piece(sep_s, 1)}},
      {"special_tokens",
       {{cls_s, {{"id", cls_s}, {"ids", {id_of(added, cls)}}, {"tokens", {cls_s}}}},
        {sep_s, {{"id", sep_s}, {"ids", {id_of(added, sep)}}, {"tokens", {sep_s}}}}}}};
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}};
  j["model"] = {{"type", "WordPiece"},
                {"unk_token", unk["content"]},
                {"continuing_subword_prefix", "##"},
                {"max_input_chars_per_word", 100},
                {"vocab", std::move(vocab)}};
  return j;
}

Json bpe_json_from_vocab_and_merges(const std::string& vocab_path, const std::string& merges_path,
                                    const Json& config) {
  Json vocab;
  try {
    vocab = Json::parse(slurp(vocab_path));
  } catch (const Json::parse_error& e) {
    throw Error("vocab.json is not valid JSON: " + std::string(e.what()));
  }
  if (!vocab.is_object()) throw Error("vocab.json must be an object of token -> id");
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > INT32_MAX)
      throw Error("vocab.json: token \"" + it.key() + "\" must map to a non-negative integer id");

  const std::string text = slurp(merges_path);
  Json merges = Json::array();
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1 && line.rfind("#version", 0) == 0) continue;
    std::istringstream parts(line);
    std::string a, b, extra;
    if (!(parts >> a)) continue;  // blank line
    if (!(parts >> b) || (parts >> extra))
      throw Error("merges.txt line " + std::to_string(line_no) + ": expected two tokens, got \"" +
                  line + "\"");
    merges.push_back(a + " " + b);
  }

  std::string cls_name = config.is_object() ? config.value("tokenizer_class", std::string()) : "";
  const bool gpt2 = cls_name.rfind("GPT2", 0) == 0 || (cls_name.empty() && !vocab.contains("<s>"));
  const bool add_prefix_space = config_bool(config, "add_prefix_space", false);
  const bool trim_offsets = config_bool(config, "trim_offsets", true);

  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"},
                        {"add_prefix_space", add_prefix_space},
                        {"trim_offsets", trim_offsets},
                        {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"},
                  {"add_prefix_space", true},
                  {"trim_offsets", true},
                  {"use_regex", true}};
  if (gpt2) {
    const Json eot = special_from_config(config, "unk_token", "<|endoftext|>", false);
    std::vector<Json> specials = {eot,
                                  special_from_config(config, "bos_token", "<|endoftext|>", false),
                                  special_from_config(config, "eos_token", "<|endoftext|>", false)};
    j["added_tokens"] = added_tokens_for(specials, vocab);
    j["post_processor"] = {{"type", "ByteLevel"},
                           {"add_prefix_space", add_prefix_space},
                           {"trim_offsets", trim_offsets},
                           {"use_regex", true}};
  } else {
    const Json bos = special_from_config(config, "bos_token", "<s>", false);
    const Json pad = special_from_config(config, "pad_token", "<pad>", false);
    const Json eos = special_from_config(config, "eos_token", "</s>", false);
    const Json unk = special_from_config(config, "unk_token", "<unk>", false);
    const Json sep = special_from_config(config, "sep_token", "</s>", false);
    const Json cls = special_from_config(config, "cls_token", "<s>", false);
    const Json mask = special_from_config(config, "mask_token", "<mask>", true);
    const Json added = added_tokens_for({bos, pad, eos, unk, sep, cls, mask}, vocab);
    j["added_tokens"] = added;
    j["post_processor"] = {{"type", "RobertaProcessing"},
                           {"sep", {sep["content"], id_of(added, sep)}},
                           {"cls", {cls["content"], id_of(added, cls)}},
                           {"trim_offsets", trim_offsets},
                           {"add_prefix_space", add_prefix_space}};
  }
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merges)}};
  return j;
}

}  // namespace kiln::tok
