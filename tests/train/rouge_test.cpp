// ROUGE against Google's rouge-score 0.1.2 (fixtures in ../shared/refs/rouge, see its README):
// the tokens and all twelve numbers of every pair, with and without stemming, within 1e-6, and
// the corpus means. Then the traps one at a time: Unicode lower-casing before the ASCII filter,
// empty texts, clipped n-gram counts and rougeLsum's union LCS with its tie-breaking.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/rouge.h"
#include "train/rouge_tokenize.h"

namespace kiln::train {
namespace {

using nlohmann::json;

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/rouge/";

std::vector<json> fixture_cases() {
  std::vector<json> cases;
  std::ifstream in(kRefs + "rouge_cases.jsonl");
  std::string line;
  while (std::getline(in, line)) cases.push_back(json::parse(line));
  return cases;
}

const RougeScore& score_of(const RougeScores& s, const std::string& type) {
  if (type == "rouge1") return s.rouge1;
  if (type == "rouge2") return s.rouge2;
  if (type == "rougeL") return s.rougeL;
  return s.rougeLsum;
}

// The largest difference between `got` and rouge-score's {type: {precision, recall, fmeasure}}.
double max_error(const RougeScores& got, const json& want) {
  double worst = 0;
  for (const char* type : {"rouge1", "rouge2", "rougeL", "rougeLsum"}) {
    const RougeScore& s = score_of(got, type);
    const json& w = want.at(type);
    worst = std::max({worst, std::abs(s.precision - w.at("precision").get<double>()),
                      std::abs(s.recall - w.at("recall").get<double>()),
                      std::abs(s.fmeasure - w.at("fmeasure").get<double>())});
  }
  return worst;
}

class RougeFixtures : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kRefs + "rouge_cases.jsonl")) GTEST_SKIP() << "no fixtures";
  }
  const char* mode() const { return GetParam() ? "stem" : "nostem"; }
};

TEST_P(RougeFixtures, TokensOfEveryText) {
  for (const json& c : fixture_cases())
    for (const char* side : {"prediction", "reference"})
      EXPECT_EQ(rouge_tokenize(c[side].get<std::string>(), GetParam()),
                c["tokens"][mode()][side].get<std::vector<std::string>>())
          << c["id"] << " " << c["source"] << " " << side;
}

TEST_P(RougeFixtures, EveryScoreOfEveryPair) {
  size_t pairs = 0, matching = 0;
  double worst = 0;
  for (const json& c : fixture_cases()) {
    const RougeScores got = rouge_score(c["prediction"].get<std::string>(),
                                        c["reference"].get<std::string>(), GetParam());
    const double error = max_error(got, c["scores"][mode()]);
    EXPECT_LE(error, 1e-6) << c["id"] << " " << c["source"];
    worst = std::max(worst, error);
    ++pairs;
    matching += error <= 1e-6;
  }
  EXPECT_EQ(pairs, 298u);
  EXPECT_EQ(matching, pairs);
  RecordProperty("max_abs_error", std::to_string(worst));
}

TEST_P(RougeFixtures, MeanOverAllPairs) {
  std::ifstream in(kRefs + "rouge_aggregate.json");
  const json want = json::parse(in)["results"][mode()]["mean"];
  RougeMean mean;
  for (const json& c : fixture_cases())
    mean.add(rouge_score(c["prediction"].get<std::string>(), c["reference"].get<std::string>(),
                         GetParam()));
  EXPECT_EQ(mean.count(), 298u);
  EXPECT_LE(max_error(mean.mean(), want), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Stemming, RougeFixtures, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "stem" : "nostem"; });

using Tokens = std::vector<std::string>;

TEST(RougeTokenize, LowerCasesUnicodeBeforeKeepingAsciiLettersAndDigits) {
  EXPECT_EQ(rouge_tokenize("5 \u212A is cold", false), (Tokens{"5", "k", "is", "cold"}));
  EXPECT_EQ(rouge_tokenize("\u0130stanbul", false), (Tokens{"i", "stanbul"}));
  EXPECT_EQ(rouge_tokenize("Café don't 39-year-old $3.36bn x_y", false),
            (Tokens{"caf", "don", "t", "39", "year", "old", "3", "36bn", "x", "y"}));
  EXPECT_EQ(rouge_tokenize("  ...\n\t ", false), Tokens{});
  EXPECT_EQ(rouge_tokenize("caf\xff\xfe rest", false), (Tokens{"caf", "rest"}));  // bad UTF-8
}

TEST(RougeTokenize, StemsOnlyTokensLongerThanThreeCharacters) {
  EXPECT_EQ(rouge_tokenize("was runs goes Dying", true), (Tokens{"was", "run", "goe", "die"}));
}

TEST(Rouge, EmptySidesScoreZeroNotNan) {
  for (const auto& [p, r] : {std::pair<const char*, const char*>{"", "the cat"},
                             {"the cat", ""},
                             {"", ""},
                             {"...", "?!"},
                             {"\n\n", "the cat"}}) {
    const RougeScores s = rouge_score(p, r, false);
    for (const char* type : {"rouge1", "rouge2", "rougeL", "rougeLsum"}) {
      const RougeScore& x = score_of(s, type);
      EXPECT_EQ(x.precision, 0.0) << type;
      EXPECT_EQ(x.recall, 0.0) << type;
      EXPECT_EQ(x.fmeasure, 0.0) << type;
    }
  }
}

TEST(Rouge, NgramMatchesAreClippedByCount) {
  // Reference "the cat": "the" matches once although the prediction has it six times.
  const RougeScore s = rouge_n(Tokens(6, "the"), {"the", "cat"}, 1);
  EXPECT_DOUBLE_EQ(s.precision, 1.0 / 6);
  EXPECT_DOUBLE_EQ(s.recall, 1.0 / 2);
  EXPECT_DOUBLE_EQ(s.fmeasure, 2 * (1.0 / 6) * 0.5 / (1.0 / 6 + 0.5));
  EXPECT_DOUBLE_EQ(rouge_n({"a", "b", "a", "b"}, {"a", "b"}, 2).precision, 1.0 / 3);
}

TEST(Rouge, LongestCommonSubsequence) {
  const RougeScore s = rouge_l({"a", "b", "c", "d", "e", "f"}, {"b", "a", "d", "c", "f", "e"});
  EXPECT_DOUBLE_EQ(s.precision, 0.5);
  EXPECT_DOUBLE_EQ(s.recall, 0.5);
}

TEST(Rouge, SummaryLevelUnionLcsCountsEachTokenOnce) {
  // Both reference lines "a b" are covered by the one prediction line "a b", but the prediction
  // has only one a and one b to match: 2 hits, not 4.
  const RougeScore s = rouge_lsum({{"a", "b"}}, {{"a", "b"}, {"a", "b"}});
  EXPECT_DOUBLE_EQ(s.precision, 1.0);
  EXPECT_DOUBLE_EQ(s.recall, 0.5);
}

TEST(Rouge, SummaryLevelLcsTieBreakSkipsTheReferenceToken) {
  // Reference "c c" against the lines "c a" and "c". The LCS with "c a" is either c of the
  // reference; rouge-score's backtrack skips the reference token on a tie and takes the first,
  // the LCS with "c" takes the last, so the union covers both: recall 1. Skipping the prediction
  // token on ties would take the last c twice: recall 1/2.
  const RougeScore s = rouge_lsum({{"c", "a"}, {"c"}}, {{"c", "c"}});
  EXPECT_DOUBLE_EQ(s.recall, 1.0);
  EXPECT_DOUBLE_EQ(s.precision, 2.0 / 3);
}

TEST(Rouge, WithoutNewlinesLsumIsL) {
  const RougeScores s = rouge_score("the cat sat on the mat", "the mat sat on a cat", true);
  EXPECT_EQ(s.rougeLsum.precision, s.rougeL.precision);
  EXPECT_EQ(s.rougeLsum.recall, s.rougeL.recall);
}

TEST(Rouge, MeanOfNothingIsZero) {
  EXPECT_EQ(RougeMean().mean().rouge1.fmeasure, 0.0);
}

}  // namespace
}  // namespace kiln::train
