// Reading the real checkpoints that Hugging Face transformers wrote (see /work/shared/refs).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"

namespace kiln::io {
namespace {

const std::string kModels = std::string(KILN_SHARED_DIR) + "/refs/models";

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

TEST(SafetensorsRefs, EveryReferenceFileOpensAndTilesItsData) {
  if (!std::filesystem::exists(kModels)) GTEST_SKIP() << "no shared data at " << kModels;
  int files = 0;
  for (const auto& dir : std::filesystem::directory_iterator(kModels)) {
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      if (e.path().extension() != ".safetensors") continue;
      SCOPED_TRACE(e.path().string());
      const auto f = SafetensorsFile::open(e.path().string());
      ++files;
      EXPECT_GE(f.entries().size(), 1u);  // head-only files (finetune_head) hold 4 tensors
      uint64_t bytes = 0;
      for (const auto& t : f.entries()) {
        EXPECT_FALSE(t.name.empty());
        EXPECT_TRUE(t.dtype == FileDType::F32 || t.dtype == FileDType::I64) << t.name;
        EXPECT_TRUE(t.kiln_dtype().has_value());
        for (int64_t d : t.shape) EXPECT_GT(d, 0) << t.name;
        bytes += t.nbytes();
      }
      EXPECT_EQ(bytes, f.header().data_size());
      EXPECT_EQ(f.header().data_offset + bytes, std::filesystem::file_size(e.path()));
    }
  }
  EXPECT_GE(files, 15);
}

TEST(SafetensorsRefs, BertTokenClassifierMatchesItsConfig) {
  const std::string dir = kModels + "/bert-tokcls";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no shared data at " << dir;
  const auto config = read_json(dir + "/config.json");
  const auto reference = read_json(dir + "/reference.json");
  const auto f = SafetensorsFile::open(dir + "/model.safetensors");

  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(f.entries().size(), reference["save"]["n_tensors"].get<size_t>());
  const int64_t vocab = config["vocab_size"], hidden = config["hidden_size"];
  const int64_t inter = config["intermediate_size"], labels = config["id2label"].size();
  const int64_t positions = config["max_position_embeddings"];

  const auto& emb = f.at("bert.embeddings.word_embeddings.weight");
  EXPECT_EQ(emb.dtype, FileDType::F32);
  EXPECT_EQ(emb.shape, (std::vector<int64_t>{vocab, hidden}));
  EXPECT_EQ(f.at("bert.encoder.layer.1.intermediate.dense.weight").shape,
            (std::vector<int64_t>{inter, hidden}));
  EXPECT_EQ(f.at("classifier.weight").shape, (std::vector<int64_t>{labels, hidden}));
  const auto& pos = f.at("bert.embeddings.position_ids");  // a buffer, not a parameter
  EXPECT_EQ(pos.dtype, FileDType::I64);
  EXPECT_EQ(pos.shape, (std::vector<int64_t>{1, positions}));
  // position_ids is arange(512): checks the data pointer reaches the right bytes.
  for (int64_t i = 0; i < positions; ++i) {
    int64_t v;
    std::memcpy(&v, pos.data + 8 * i, 8);
    ASSERT_EQ(v, i);
  }
  EXPECT_EQ(f.find("bert.encoder.layer.2.output.dense.weight"), nullptr);  // only 2 layers

  int64_t params = 0;
  for (const auto& t : f.entries()) params += t.numel;
  EXPECT_EQ(params - pos.numel, reference["save"]["n_params"].get<int64_t>());
}

TEST(SafetensorsRefs, ReferenceOutputsHaveConsistentShapes) {
  const std::string path = kModels + "/bert-tokcls/reference.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no shared data at " << path;
  const auto f = SafetensorsFile::open(path);
  const auto& ids = f.at("input_ids");
  ASSERT_EQ(ids.shape.size(), 2u);
  EXPECT_EQ(ids.dtype, FileDType::I64);
  EXPECT_EQ(f.at("attention_mask").shape, ids.shape);
  const auto& logits = f.at("logits");
  EXPECT_EQ(logits.shape, (std::vector<int64_t>{ids.shape[0], ids.shape[1], 3}));
  EXPECT_EQ(f.metadata().at("transformers"), "4.30.2");
}

}  // namespace
}  // namespace kiln::io
