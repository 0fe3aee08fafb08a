// A model file's config is checked against its tensors before anything is built, absurd sizes
// are refused by name, lists of names in errors are capped, and the tensor data carries a sha256
// that a load verifies (kiln.data_sha256).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include "core/io/safetensors.h"
#include "core/sha256.h"
#include "nn/family.h"
#include "nn/model_file.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::nn {
namespace {

using kiln::testing::TempDir;

nlohmann::json tiny_config(int64_t layers = 2) {
  return {{"model_type", "bert"},
          {"architectures", {"BertForTokenClassification"}},
          {"vocab_size", 50},
          {"hidden_size", 16},
          {"num_hidden_layers", layers},
          {"num_attention_heads", 2},
          {"intermediate_size", 32},
          {"max_position_embeddings", 32},
          {"id2label", {{"0", "O"}, {"1", "B-X"}, {"2", "I-X"}}}};
}

// A model file whose tensors come from a model built with `tensors_from` and whose kiln.config
// is `config`.
std::string write_file(const TempDir& dir, const std::string& name, const nlohmann::json& config,
                       const nlohmann::json& tensors_from) {
  const auto& family = family_for_config(tensors_from, "test");
  const auto model = family.build(tensors_from, "test");
  Generator g(1);
  model->init_weights(g);
  ModelFile mf;
  mf.family = "bert";
  mf.config = config;
  mf.tensors = model->state_dict();
  const std::string path = dir / name;
  write_model_file(path, mf);
  return path;
}

// The error read_model_file gives, or "" when it reads the file.
std::string read_error(const std::string& path, bool verify = true) {
  try {
    read_model_file(path, verify);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

void expect_has(const std::string& message, const std::vector<std::string>& parts) {
  EXPECT_FALSE(message.empty()) << "no error";
  for (const auto& p : parts)
    EXPECT_NE(message.find(p), std::string::npos) << p << " in\n" << message;
}

TEST(ModelFileCheck, ConfigMustAgreeWithTheStoredShapes) {
  TempDir tmp;
  EXPECT_EQ(read_error(write_file(tmp, "ok.kiln", tiny_config(), tiny_config())), "");

  auto c = tiny_config(12);  // 12 layers in the config, 2 in the file
  expect_has(read_error(write_file(tmp, "more.kiln", c, tiny_config())),
             {"more.kiln", "'num_hidden_layers' is 12", "no tensor of layer 2",
              "bert.encoder.layer.2.attention.self.query.weight", "holds 2 layers"});
  c = tiny_config(1);  // fewer layers in the config: the extra tensors would be ignored silently
  expect_has(read_error(write_file(tmp, "fewer.kiln", c, tiny_config())),
             {"'num_hidden_layers' is 1", "tensors of layer 1", "bert.encoder.layer.1."});
  c = tiny_config();
  c["vocab_size"] = 60;
  expect_has(read_error(write_file(tmp, "vocab.kiln", c, tiny_config())),
             {"'vocab_size' is 60", "bert.embeddings.word_embeddings.weight", "has 50 rows"});
  c = tiny_config();
  c["intermediate_size"] = 64;
  expect_has(read_error(write_file(tmp, "inter.kiln", c, tiny_config())),
             {"'intermediate_size' is 64", "bert.encoder.layer.0.intermediate.dense.weight"});
  c = tiny_config();
  c["hidden_size"] = 32;
  c["num_attention_heads"] = 4;
  expect_has(read_error(write_file(tmp, "hidden.kiln", c, tiny_config())),
             {"'hidden_size' is 32", "bert.embeddings.word_embeddings.weight", "columns"});
  c = tiny_config();
  c["max_position_embeddings"] = 512;
  expect_has(read_error(write_file(tmp, "pos.kiln", c, tiny_config())),
             {"'max_position_embeddings' is 512", "position_embeddings"});
  c = tiny_config();
  c["id2label"] = {{"0", "O"}, {"1", "B"}};
  expect_has(read_error(write_file(tmp, "labels.kiln", c, tiny_config())),
             {"'id2label' is 2", "classifier.weight", "has 3 rows"});
}

TEST(ModelFileCheck, DistilBertNamesItsOwnFields) {
  TempDir tmp;
  const nlohmann::json d = {{"model_type", "distilbert"},
                            {"architectures", {"DistilBertModel"}},
                            {"vocab_size", 50},
                            {"dim", 16},
                            {"n_layers", 2},
                            {"n_heads", 2},
                            {"hidden_dim", 32},
                            {"max_position_embeddings", 32}};
  auto c = d;
  c["n_layers"] = 3;
  expect_has(read_error(write_file(tmp, "d.kiln", c, d)),
             {"'n_layers' is 3", "transformer.layer.2.attention.q_lin.weight"});
  c = d;
  c["hidden_dim"] = 40;
  expect_has(read_error(write_file(tmp, "f.kiln", c, d)),
             {"'hidden_dim' is 40", "transformer.layer.0.ffn.lin1.weight"});
}

TEST(ModelFileCheck, AbsurdSizesAreRefusedByNameAtOnce) {
  const auto& family = family_for_config(tiny_config(), "test");
  struct Case {
    const char* field;
    nlohmann::json value;
  };
  const std::vector<Case> cases = {{"num_hidden_layers", 1e9},
                                   {"num_hidden_layers", 0},
                                   {"num_hidden_layers", -2},
                                   {"num_hidden_layers", 2.5},
                                   {"intermediate_size", 1e12},
                                   {"intermediate_size", 0},
                                   {"hidden_size", -16},
                                   {"vocab_size", 1e300},
                                   {"vocab_size", 0},
                                   {"max_position_embeddings", 1e15},
                                   {"num_attention_heads", 1000},
                                   {"type_vocab_size", 1e10},
                                   {"num_hidden_layers", "12"}};
  for (const auto& k : cases) {
    auto c = tiny_config();
    c[k.field] = k.value;
    const auto start = std::chrono::steady_clock::now();
    for (const bool build : {false, true}) {
      try {
        if (build)
          family.build(c, "cfg.json");
        else
          family.parse_config(c, "cfg.json");
        ADD_FAILURE() << k.field << " = " << k.value.dump() << " accepted";
      } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(std::string("cfg.json: config field '") + k.field + "'"),
                  std::string::npos)
            << m;
      }
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << k.field;
  }
  // RoBERTa needs a position after pad_token_id.
  auto r = tiny_config();
  r["model_type"] = "roberta";
  r["architectures"] = {"RobertaForTokenClassification"};
  r["pad_token_id"] = 40;
  EXPECT_THROW(family.parse_config(r, "cfg.json"), Error);
}

TEST(ModelFileCheck, SizesEachInBoundsButTooBigTogetherAreRefusedBeforeBuilding) {
  auto c = tiny_config();
  c["vocab_size"] = 1 << 24;
  c["hidden_size"] = 65536;
  c["num_attention_heads"] = 1;
  const auto& family = family_for_config(c, "test");
  EXPECT_GT(family.parameter_count(c, "test"), int64_t{1} << 40);
  try {
    check_model_fits_memory(family, c, "big.json", 16);
    FAIL() << "a 2^40-parameter model was not refused";
  } catch (const Error& e) {
    expect_has(e.what(), {"big.json", "parameters", "memory"});
  }
  // The tiny one fits, and its count is exact.
  const auto model = family.build(tiny_config(), "test");
  EXPECT_EQ(family.parameter_count(tiny_config(), "test"), model->parameter_count());
  EXPECT_NO_THROW(check_model_fits_memory(family, tiny_config(), "tiny", 16));
}

TEST(ModelFileCheck, AConfigMayNotImplyMoreParametersThanTheFileStores) {
  TempDir tmp;
  // A bare encoder whose config asks for a pooler its tensors lack: every stored shape agrees,
  // but the model it describes is bigger than the file.
  nlohmann::json bare = tiny_config();
  bare["architectures"] = {"BertModel"};
  nlohmann::json without_pooler = bare;
  without_pooler["add_pooling_layer"] = false;
  expect_has(read_error(write_file(tmp, "p.kiln", bare, without_pooler)),
             {"p.kiln (kiln.config)", "the config describes a model of", "holds only"});
  EXPECT_EQ(read_error(write_file(tmp, "q.kiln", without_pooler, without_pooler)), "");
}

TEST(ModelFileCheck, ParameterCountMatchesEveryHead) {
  for (const char* type : {"bert", "roberta", "distilbert"})
    for (const char* head : {"Model", "ForTokenClassification", "ForSequenceClassification"}) {
      nlohmann::json c = tiny_config();
      c["model_type"] = type;
      const std::string prefix = std::string(type) == "bert"      ? "Bert"
                                 : std::string(type) == "roberta" ? "Roberta"
                                                                  : "DistilBert";
      c["architectures"] = {prefix + head};
      if (std::string(type) == "roberta") c["pad_token_id"] = 1;
      if (std::string(type) == "distilbert")
        c = {{"model_type", "distilbert"},
             {"architectures", {prefix + head}},
             {"vocab_size", 50},
             {"dim", 16},
             {"n_layers", 2},
             {"n_heads", 2},
             {"hidden_dim", 32},
             {"max_position_embeddings", 32},
             {"id2label", c["id2label"]}};
      const auto& family = family_for_config(c, "test");
      EXPECT_EQ(family.parameter_count(c, "test"), family.build(c, "test")->parameter_count())
          << prefix << head;
    }
}

TEST(ModelFileCheck, LoadStateDictListsAtMostTwentyNames) {
  const auto& family = family_for_config(tiny_config(), "test");
  const auto model = family.build(tiny_config(), "test");
  StateDict state;
  for (int i = 0; i < 500; ++i) state["junk." + std::to_string(i)] = Tensor::zeros({1});
  try {
    model->load_state_dict(state, /*strict=*/true, "junk.safetensors");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    expect_has(m, {"junk.safetensors", "... and 480 more", "missing:"});
    EXPECT_LT(m.size(), 3000u) << m;
  }
}

// The data section of a kiln-written safetensors file.
std::pair<size_t, size_t> data_section(const std::string& path) {
  const auto f = io::SafetensorsFile::open(path);
  return {f.header().data_offset, f.header().data_size()};
}

void flip_bit(const std::string& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(c);
}

TEST(DataChecksum, RecordedOnSaveAndVerifiedOnLoad) {
  TempDir tmp;
  const std::string path = write_file(tmp, "m.kiln", tiny_config(), tiny_config());
  std::map<std::string, std::string> meta;
  load_safetensors(path, &meta);
  ASSERT_TRUE(meta.count(kDataSha256Key));
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto [begin, size] = data_section(path);
  EXPECT_EQ(meta[kDataSha256Key], sha256_hex(std::string_view(bytes).substr(begin, size)));
  // read_model_file keeps it out of extra_metadata: a rewrite records its own.
  EXPECT_EQ(read_model_file(path).extra_metadata.count(kDataSha256Key), 0u);

  flip_bit(path, begin + size / 2);
  expect_has(read_error(path), {path, "tensor data is corrupt", "sha256", "--no-verify"});
  EXPECT_THROW(load_safetensors(path), Error);
  EXPECT_EQ(read_error(path, /*verify=*/false), "");  // --no-verify loads it as it is
  EXPECT_NO_THROW(load_safetensors(path, nullptr, /*verify=*/false));
}

TEST(DataChecksum, FilesWithoutTheKeyStillLoad) {
  TempDir tmp;
  const std::string path = write_file(tmp, "m.kiln", tiny_config(), tiny_config());
  // Rewrite it as kiln wrote files before the checksum: the same tensors, no kiln.data_sha256.
  std::map<std::string, std::string> meta;
  const StateDict tensors = load_safetensors(path, &meta);
  meta.erase(kDataSha256Key);
  std::vector<Tensor> keep;
  std::vector<io::TensorToWrite> items;
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.contiguous());
    items.push_back({name, io::to_file_dtype(t.dtype()), t.shape(), keep.back().raw_data(),
                     keep.back().nbytes()});
  }
  const std::string old = tmp / "old.kiln";
  io::write_safetensors(old, items, meta);
  EXPECT_EQ(read_error(old), "");
  const auto [begin, size] = data_section(old);
  flip_bit(old, begin + size / 2);
  EXPECT_EQ(read_error(old), "") << "nothing to check an old file against";
}

}  // namespace
}  // namespace kiln::nn
