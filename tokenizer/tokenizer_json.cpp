// Loading: tokenizer.json parsing and the from_path dispatch over file layouts.
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "tokenizer/tokenizer_impl.h"

namespace kiln::tok {

namespace fs = std::filesystem;

namespace {

bool mentions_byte_level(const Json& j) {
  if (!j.is_object()) return false;
  if (auto t = j.find("type"); t != j.end() && t->is_string() && *t == "ByteLevel") return true;
  if (auto seq = j.find("pretokenizers"); seq != j.end() && seq->is_array())
    for (const auto& p : *seq)
      if (mentions_byte_level(p)) return true;
  return false;
}

std::optional<TruncationParams> truncation_from_json(const Json& j, const std::string& path) {
  if (j.is_null()) return std::nullopt;
  if (!j.is_object()) field_error(path, "must be an object or null");
  TruncationParams p;
  const int64_t max_length = get_int(j, "max_length", path);
  if (max_length < 0) field_error(path + ".max_length", "must not be negative");
  p.max_length = static_cast<size_t>(max_length);
  const std::string strategy = get_string_or(j, "strategy", path, "LongestFirst");
  if (strategy == "LongestFirst")
    p.strategy = TruncationStrategy::kLongestFirst;
  else if (strategy == "OnlyFirst")
    p.strategy = TruncationStrategy::kOnlyFirst;
  else if (strategy == "OnlySecond")
    p.strategy = TruncationStrategy::kOnlySecond;
  else
    field_error(path + ".strategy",
                "must be LongestFirst, OnlyFirst or OnlySecond, got '" + strategy + "'");
  const std::string direction = get_string_or(j, "direction", path, "Right");
  if (direction != "Right" && direction != "Left")
    field_error(path + ".direction", "must be Right or Left, got '" + direction + "'");
  p.from_left = direction == "Left";
  if (get_int_or(j, "stride", path, 0) != 0)
    field_error(path + ".stride", "is not 0; overflowing windows are not supported");
  return p;
}

std::optional<PaddingParams> padding_from_json(const Json& j, const std::string& path) {
  if (j.is_null()) return std::nullopt;
  if (!j.is_object()) field_error(path, "must be an object or null");
  PaddingParams p;
  const Json& strategy = require(j, "strategy", path);
  if (strategy.is_object() && strategy.contains("Fixed")) {
    const Json& n = strategy["Fixed"];
    if (!n.is_number_integer() || n.get<int64_t>() < 0)
      field_error(path + ".strategy.Fixed", "must be a non-negative integer");
    p.fixed_length = n.get<size_t>();
  } else if (!(strategy.is_string() && strategy == "BatchLongest")) {
    field_error(path + ".strategy", "must be \"BatchLongest\" or {\"Fixed\": n}");
  }
  const std::string direction = get_string_or(j, "direction", path, "Right");
  if (direction != "Right" && direction != "Left")
    field_error(path + ".direction", "must be Right or Left, got '" + direction + "'");
  p.pad_left = direction == "Left";
  p.pad_to_multiple_of = static_cast<size_t>(get_int_or(j, "pad_to_multiple_of", path, 0));
  p.pad_id = static_cast<int32_t>(get_int_or(j, "pad_id", path, 0));
  p.pad_type_id = static_cast<int32_t>(get_int_or(j, "pad_type_id", path, 0));
  p.pad_token = get_string_or(j, "pad_token", path, "[PAD]");
  return p;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open '" + path.string() + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json parse_json_file(const fs::path& path) {
  try {
    return Json::parse(read_file(path));
  } catch (const Json::parse_error& e) {
    throw Error("'" + path.string() + "' is not valid JSON: " + e.what());
  }
}

// tokenizer_config.json overlaid with special_tokens_map.json, from the folder of a vocab file.
Json load_config(const fs::path& dir) {
  Json config = Json::object();
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const fs::path p = dir / name;
    if (!fs::exists(p)) continue;
    Json j = parse_json_file(p);
    if (!j.is_object()) throw Error("'" + p.string() + "' must hold a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) config[it.key()] = *it;
  }
  return config;
}

}  // namespace

std::shared_ptr<Tokenizer::Impl> build_from_json(const Json& j, std::string source_json) {
  if (!j.is_object()) throw Error("tokenizer.json: the document must be a JSON object");
  auto impl = std::make_shared<Tokenizer::Impl>();
  auto field = [&](const char* key) -> const Json& {
    static const Json null_json;
    auto it = j.find(key);
    return it == j.end() ? null_json : *it;
  };
  impl->normalizer = normalizer_from_json(field("normalizer"), "normalizer");
  impl->pre_tokenizer = pre_tokenizer_from_json(field("pre_tokenizer"), "pre_tokenizer");
  const Json& model = field("model");
  if (model.is_null()) field_error("model", "is missing");
  impl->model = model_from_json(model, "model", mentions_byte_level(field("pre_tokenizer")));
  impl->post_processor = post_processor_from_json(field("post_processor"), "post_processor");
  impl->decoder = decoder_from_json(field("decoder"), "decoder");
  impl->truncation = truncation_from_json(field("truncation"), "truncation");
  impl->padding = padding_from_json(field("padding"), "padding");

  const Json& added = field("added_tokens");
  if (!added.is_null()) {
    if (!added.is_array()) field_error("added_tokens", "must be an array");
    for (size_t i = 0; i < added.size(); ++i) {
      const std::string path = "added_tokens[" + std::to_string(i) + "]";
      const Json& a = added[i];
      AddedToken t;
      const int64_t id = get_int(a, "id", path);
      if (id < 0 || id > INT32_MAX) field_error(path + ".id", "must be a non-negative 32-bit id");
      t.id = static_cast<int32_t>(id);
      t.content = get_string(a, "content", path);
      if (t.content.empty()) field_error(path + ".content", "must not be empty");
      t.single_word = get_bool_or(a, "single_word", path, false);
      t.lstrip = get_bool_or(a, "lstrip", path, false);
      t.rstrip = get_bool_or(a, "rstrip", path, false);
      t.special = get_bool_or(a, "special", path, false);
      t.normalized = get_bool_or(a, "normalized", path, !t.special);
      impl->added.add(std::move(t));
    }
  }
  impl->added.finalize(impl->normalizer.get());
  impl->json = std::move(source_json);
  return impl;
}

Tokenizer Tokenizer::from_json_string(std::string_view json) {
  Json j;
  try {
    j = Json::parse(json);
  } catch (const Json::parse_error& e) {
    throw Error(std::string("tokenizer.json is not valid JSON: ") + e.what());
  }
  return Tokenizer(build_from_json(j, std::string(json)));
}

Tokenizer Tokenizer::from_path(const std::string& path_str) {
  const fs::path path(path_str);
  if (!fs::exists(path)) throw Error("tokenizer path '" + path_str + "' does not exist");
  fs::path file = path;
  if (fs::is_directory(path)) {
    if (fs::exists(path / "tokenizer.json")) {
      file = path / "tokenizer.json";
    } else if (fs::exists(path / "vocab.txt")) {
      file = path / "vocab.txt";
    } else if (fs::exists(path / "vocab.json")) {
      file = path / "vocab.json";
    } else {
      throw Error("no tokenizer in '" + path_str +
                  "': expected tokenizer.json, vocab.txt, or vocab.json with merges.txt");
    }
  }
  const std::string name = file.filename().string();
  const fs::path dir = file.parent_path();
  auto with_file = [&](const std::function<Json()>& convert) {
    try {
      Json j = convert();
      std::string text = j.dump();
      return Tokenizer(build_from_json(j, std::move(text)));
    } catch (const Error& e) {
      throw Error("'" + file.string() + "': " + e.what());
    }
  };
  if (name == "vocab.txt" || file.extension() == ".txt") {
    return with_file(
        [&] { return wordpiece_json_from_vocab_txt(file.string(), load_config(dir)); });
  }
  if (name == "vocab.json") {
    const fs::path merges = dir / "merges.txt";
    if (!fs::exists(merges))
      throw Error("'" + file.string() + "' needs merges.txt beside it (not found)");
    return with_file([&] {
      return bpe_json_from_vocab_and_merges(file.string(), merges.string(), load_config(dir));
    });
  }
  const std::string text = read_file(file);
  try {
    return from_json_string(text);
  } catch (const Error& e) {
    throw Error("'" + file.string() + "': " + e.what());
  }
}

}  // namespace kiln::tok
