// kiln summarize on a converted transformers checkpoint (bart-denoise): the ids and text
// transformers' generate() + tokenizer.decode give for the fixture's greedy and beam
// configurations, scores within 1e-4, num_return_sequences, pass-through fields, plain text
// input, --stream, the model's generation_config as defaults, and clear errors with non-zero
// exits for contradictory flags, bad lines, a model without an LM head and absurd inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.h"
#include "tests/common/reference_checks.h"

namespace kiln {
namespace {

using kiln::testing::read_json;

using testing::run_kiln;
using testing::TempDir;
const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
  return out;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

class SummarizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kRefs + "bart-denoise")) GTEST_SKIP() << "fixtures not present";
    ref_ = read_json(kRefs + "bart-denoise/reference.json");
    model_ = dir_ / "bd.kiln";
    ASSERT_EQ(run_kiln("convert " + kRefs + "bart-denoise -o " + model_).exit_code, 0);
    std::string lines;
    for (size_t i = 0; i < ref_["reference_sources"].size(); ++i)
      lines += nlohmann::json({{"id", i}, {"text", ref_["reference_sources"][i]}}).dump() + "\n";
    input_ = dir_ / "in.jsonl";
    write(input_, lines);
  }
  // The flags of a fixture configuration (generate_kwargs), as kiln summarize spells them.
  std::string flags_of(const std::string& name) {
    std::string flags;
    for (const auto& [k, v] : ref_["generation"][name]["generate_kwargs"].items()) {
      std::string flag = k;
      std::replace(flag.begin(), flag.end(), '_', '-');
      if (k == "do_sample") continue;
      flags +=
          " --" + flag + " " + (v.is_boolean() ? (v.get<bool>() ? "true" : "false") : v.dump());
    }
    return flags;
  }
  TempDir dir_;
  nlohmann::json ref_;
  std::string model_, input_;
};

TEST_F(SummarizeCli, GreedyAndBeamGiveTransformersIdsTextAndScores) {
  for (const std::string name : {"greedy", "beam4", "beam4_lp08_noearly", "greedy_rep13"}) {
    SCOPED_TRACE(name);
    const auto r = run_kiln("summarize -m " + model_ + " -i " + input_ + flags_of(name), false);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto lines = json_lines(r.output);
    const auto& gen = ref_["generation"][name];
    ASSERT_EQ(lines.size(), gen["single_sequences"].size());
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_EQ(lines[i]["id"], i);  // passed through, first
      EXPECT_EQ(lines[i].begin().key(), "id");
      EXPECT_EQ(lines[i]["ids"], gen["single_sequences"][i]);
      EXPECT_EQ(lines[i]["summary"], gen["decoded"][i]);
      EXPECT_EQ(lines[i].contains("score"), name.rfind("beam", 0) == 0);
    }
  }
  // beam4's sequences_scores are in the reference.json as well? They are in generate.safetensors;
  // the printed ones equal the library's, which tests/nn/generation_reference_test checks.
}

TEST_F(SummarizeCli, NumReturnSequencesListsBestFirst) {
  const auto r =
      run_kiln("summarize -m " + model_ + " -i " + input_ + flags_of("beam2_nrs2"), false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = json_lines(r.output);
  const auto& seqs = ref_["generation"]["beam2_nrs2"]["single_sequences"];
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(lines[i]["summaries"].size(), 2u);
    EXPECT_GE(lines[i]["summaries"][0]["score"].get<double>(),
              lines[i]["summaries"][1]["score"].get<double>());
    // single_sequences holds input i's two rows, best first.
    EXPECT_EQ(lines[i]["summaries"][0]["ids"], seqs[i][0]);
    EXPECT_EQ(lines[i]["summaries"][1]["ids"], seqs[i][1]);
  }
}

TEST_F(SummarizeCli, PlainTextLinesStreamingAndModelDefaults) {
  std::string text;
  for (const auto& s : ref_["reference_sources"]) text += s.get<std::string>() + "\n";
  const std::string txt = dir_ / "in.txt";
  write(txt, text);
  const auto json_run =
      run_kiln("summarize -m " + model_ + " -i " + txt + " --max-length 48", false);
  ASSERT_EQ(json_run.exit_code, 0) << json_run.output;
  const auto lines = json_lines(json_run.output);
  ASSERT_EQ(lines.size(), 4u);
  std::string want;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(lines[i]["summary"], ref_["generation"]["greedy"]["decoded"][i]);
    want += lines[i]["summary"].get<std::string>() + "\n";
  }
  const auto streamed =
      run_kiln("summarize -m " + model_ + " -i " + txt + " --max-length 48 --stream", false);
  ASSERT_EQ(streamed.exit_code, 0);
  EXPECT_EQ(streamed.output, want);
  // Without --max-length the model's generation config applies (transformers' default 20, the
  // forced </s> at the 20th token), as generate() does.
  const auto dflt = run_kiln("summarize -m " + model_ + " -i " + txt, false);
  const auto first = json_lines(dflt.output).at(0);
  EXPECT_EQ(first["ids"].size(), 20u);
  EXPECT_EQ(first["ids"].back(), 2);
}

TEST_F(SummarizeCli, TextFormatPrintsEachInputThenItsSummaries) {
  // Beam 4: the id and the start of each input, then the summary transformers decodes, with its
  // score; then a review group, named by its document count.
  auto r = run_kiln(
      "summarize -m " + model_ + " -i " + input_ + flags_of("beam4") + " --format text", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto& decoded = ref_["generation"]["beam4"]["decoded"];
  std::istringstream lines(r.output);
  std::string line;
  for (size_t i = 0; i < decoded.size(); ++i) {
    ASSERT_TRUE(std::getline(lines, line));
    const std::string source = ref_["reference_sources"][i];
    const std::string head =
        "[" + std::to_string(i + 1) + "] " + std::to_string(i) + ": " + source.substr(0, 20);
    EXPECT_EQ(line.rfind(head, 0), 0u) << line;
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line.rfind("    " + decoded[i].get<std::string>() + "  (score -", 0), 0u) << line;
  }
  EXPECT_FALSE(std::getline(lines, line)) << line;

  const std::string reviews = dir_ / "reviews.jsonl";
  write(
      reviews,
      nlohmann::json({{"reviews", {"Great value, it charges fast.", "Too short."}}}).dump() + "\n");
  r = run_kiln("summarize -m " + model_ + " -i " + reviews + " --max-length 10 --format text",
               false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("[1] 2 documents: Great value, it charges fast.\n    ", 0), 0u)
      << r.output;
  r = run_kiln("summarize -m " + model_ + " -i " + reviews + " --format yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--format must be jsonl or text, got 'yaml'"), std::string::npos);
}

TEST_F(SummarizeCli, ContradictionsAndBadInputGetClearErrors) {
  const std::string m = "summarize -m " + model_;
  auto r = run_kiln(m + " -i " + input_ + " --num-beams 2 --num-return-sequences 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("num_return_sequences 3 is larger than num_beams 2"), std::string::npos)
      << r.output;
  r = run_kiln(m + " -i " + input_ + " --min-length 30 --max-length 20");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("min_length 30 is larger than max_length 20"), std::string::npos);
  r = run_kiln(m + " -i " + input_ + " --early-stopping maybe");
  EXPECT_EQ(r.exit_code, 2);
  r = run_kiln(m + " -i " + input_ + " --num-beams 4 --stream");
  EXPECT_EQ(r.exit_code, 2);
  r = run_kiln(m + " -i " + input_ + " --beams 4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--beams"), std::string::npos);

  const std::string bad = dir_ / "bad.jsonl";
  write(bad,
        "{\"text\": \"The trend has taken hold.\"}\n{\"text\": \"unclosed\n{\"reviews\": []}\n");
  r = run_kiln(m + " -i " + bad, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(json_lines(r.output).size(), 1u);  // the good line before it is written
  r = run_kiln(m + " -i " + bad);
  EXPECT_NE(r.output.find("bad.jsonl:2"), std::string::npos) << r.output;
  r = run_kiln(m + " -i " + bad + " --skip-bad-lines");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("bad.jsonl:3: field 'reviews' is an empty list"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("skipped 2 bad input lines"), std::string::npos);

  // Longer than the model's 64 positions: cut, said once.
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "growth ";
  const std::string longf = dir_ / "long.jsonl";
  write(longf, nlohmann::json({{"text", long_text}}).dump() + "\n" +
                   nlohmann::json({{"text", long_text}}).dump() + "\n");
  r = run_kiln(m + " -i " + longf);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const size_t said = r.output.find("was cut");
  EXPECT_NE(said, std::string::npos);
  EXPECT_EQ(r.output.find("was cut", said + 1), std::string::npos);

  // A model without an LM head.
  if (std::filesystem::exists(kRefs + "bert-seqcls")) {
    ASSERT_EQ(run_kiln("convert " + kRefs + "bert-seqcls -o " + (dir_ / "b.kiln")).exit_code, 0);
    r = run_kiln("summarize -m " + (dir_ / "b.kiln") + " -i " + input_);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("needs an encoder-decoder with an LM head"), std::string::npos);
  }
}

// PRIMERA's path end to end: review groups as {"reviews": [...]}, joined with <doc-sep>, global
// attention on the first token and every separator, LED's encoder, then transformers' greedy and
// beam search: the ids and text of the led-tiny fixture.
TEST(SummarizeCliLed, ReviewGroupsGiveTransformersSummaries) {
  const std::string dir = kRefs + "led-tiny";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const auto ref = read_json(dir + "/reference.json");
  ASSERT_EQ(run_kiln("convert " + dir + " -o " + (tmp / "led.kiln")).exit_code, 0);
  std::string lines;
  for (const auto& docs : ref["reference_documents"])
    lines += nlohmann::json({{"reviews", docs}}).dump() + "\n";
  write(tmp / "groups.jsonl", lines);
  for (const std::string name : {"greedy", "beam4"}) {
    SCOPED_TRACE(name);
    std::string flags;
    for (const auto& [k, v] : ref["generation"][name]["generate_kwargs"].items()) {
      if (k == "do_sample") continue;
      std::string flag = k;
      std::replace(flag.begin(), flag.end(), '_', '-');
      flags +=
          " --" + flag + " " + (v.is_boolean() ? (v.get<bool>() ? "true" : "false") : v.dump());
    }
    const auto r = run_kiln(
        "summarize -m " + (tmp / "led.kiln") + " -i " + (tmp / "groups.jsonl") + flags, false);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto out = json_lines(r.output);
    const auto& gen = ref["generation"][name];
    ASSERT_EQ(out.size(), gen["single_sequences"].size());
    for (size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i]["ids"], gen["single_sequences"][i]) << "group " << i;
      EXPECT_EQ(out[i]["summary"], gen["decoded"][i]) << "group " << i;
    }
  }
}

}  // namespace
}  // namespace kiln
