// The fusion model's metadata encoding, read from fusion-tiny's config.json, against the reference
// encoder's vectors for every row of metadata_encoding.jsonl (the sample rows plus missing age,
// age 0, empty/unknown sex, an unknown site, a site not in the list, every site once): identical
// float32 values. Also: the encoding survives kiln's stored config, and bad encodings are refused.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "nn/fusion.h"

namespace kiln::nn {
namespace {

const std::string kDir = std::string(KILN_SHARED_DIR) + "/refs/models/fusion-tiny/";

FusionConfig reference_config() {
  std::ifstream in(kDir + "config.json");
  return FusionConfig::from_json(nlohmann::json::parse(in), kDir + "config.json");
}

TEST(FusionMetadata, EncodesEveryReferenceRowExactly) {
  const FusionConfig c = reference_config();
  ASSERT_EQ(c.encoding.size(), 20);
  std::ifstream in(kDir + "metadata_encoding.jsonl");
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    std::vector<float> want;
    for (const auto& v : j["vector"]) want.push_back(v.get<float>());
    EXPECT_EQ(c.encoding.encode(j), want) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 91);
}

TEST(FusionMetadata, CsvStringsAndMissingValues) {
  const MetadataEncoding& e = reference_config().encoding;
  const auto a = e.encode({{"age", "55"}, {"sex", "male"}, {"localization", "back"}});
  const auto b = e.encode({{"age", 55}, {"sex", "male"}, {"localization", "back"}});
  EXPECT_EQ(a, b);
  const auto missing = e.encode(nlohmann::json::object());
  EXPECT_EQ(missing[0], 0.0f);
  EXPECT_EQ(missing[1], 1.0f);
  EXPECT_EQ(missing[4], 1.0f);   // sex=unknown
  EXPECT_EQ(missing[18], 1.0f);  // localization=unknown
}

TEST(FusionMetadata, StoredConfigRoundTrips) {
  const FusionConfig c = reference_config();
  const FusionConfig back = FusionConfig::from_json(c.to_json(), "stored");
  EXPECT_EQ(back.encoding.layout(), c.encoding.layout());
  EXPECT_EQ(back.encoding.age_mean, c.encoding.age_mean);
  EXPECT_EQ(back.class_weights, c.class_weights);
  EXPECT_EQ(back.labels, c.labels);
  EXPECT_EQ(back.to_json(), c.to_json());
}

TEST(FusionMetadata, RefusesInconsistentEncodings) {
  nlohmann::json j = reference_config().encoding.to_json();
  j["sex"] = {"female", "male", "unknown"};  // disagrees with the layout's order
  EXPECT_THROW(MetadataEncoding::from_json(j, "x"), Error);
  j = reference_config().encoding.to_json();
  j["age_std"] = 0;
  EXPECT_THROW(MetadataEncoding::from_json(j, "x"), Error);
}

}  // namespace
}  // namespace kiln::nn
