// kiln rouge as a user drives it: one JSON line per pair with the four scores in rouge-score's
// order, other input fields passed through, --aggregate's means (on the 298 rouge-score fixture
// pairs, against rouge-score's own means), -o, and errors that name file:line and the field.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/rouge/";

std::string write_file(const TempDir& tmp, const std::string& name, const std::string& content) {
  std::ofstream(tmp / name, std::ios::binary) << content;
  return tmp / name;
}

std::vector<ordered_json> json_lines(const std::string& text) {
  std::vector<ordered_json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(ordered_json::parse(line));
  return lines;
}

std::vector<std::string> keys(const ordered_json& j) {
  std::vector<std::string> names;
  for (const auto& [name, value] : j.items()) names.push_back(name);
  return names;
}

TEST(RougeCli, OneLinePerPairWithTheFourScores) {
  TempDir tmp;
  const std::string in =
      write_file(tmp, "pairs.jsonl",
                 "{\"prediction\": \"the cat sat\", \"reference\": \"the cat sat on the mat\"}\n"
                 "{\"prediction\": \"\", \"reference\": \"anything\"}\n");
  const RunResult r = run_kiln("rouge -i " + in, /*merge_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = json_lines(r.output);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(keys(lines[0]), (std::vector<std::string>{"rouge1", "rouge2", "rougeL", "rougeLsum"}));
  for (const auto& [type, score] : lines[0].items())
    EXPECT_EQ(keys(score), (std::vector<std::string>{"precision", "recall", "fmeasure"})) << type;
  EXPECT_DOUBLE_EQ(lines[0]["rouge1"]["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(lines[0]["rouge1"]["recall"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(lines[0]["rouge2"]["recall"].get<double>(), 2.0 / 5);
  EXPECT_DOUBLE_EQ(lines[0]["rougeL"]["fmeasure"].get<double>(), 2.0 / 3);
  EXPECT_EQ(lines[1]["rougeLsum"]["fmeasure"].get<double>(), 0.0);

  // Standard input by default; --use-stemmer makes "cats"/"cat" match.
  const RunResult stdin_run =
      run_kiln("rouge --use-stemmer < " +
                   write_file(tmp, "stem.jsonl",
                              "{\"prediction\": \"cats running\", \"reference\": \"cat runs\"}\n"),
               false);
  ASSERT_EQ(stdin_run.exit_code, 0) << stdin_run.output;
  EXPECT_DOUBLE_EQ(json_lines(stdin_run.output).at(0)["rouge1"]["fmeasure"].get<double>(), 1.0);
}

TEST(RougeCli, OtherInputFieldsPassThrough) {
  TempDir tmp;
  const std::string in = write_file(tmp, "pairs.jsonl",
                                    "{\"id\": \"doc-7\", \"prediction\": \"a b\", \"reference\": "
                                    "\"a b\", \"meta\": {\"k\": 1}, \"rouge1\": \"mine\"}\n");
  const RunResult r = run_kiln("rouge -i " + in, false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto line = json_lines(r.output).at(0);
  // Input fields first, by name, as records keep them; one named like a score is kept aside.
  EXPECT_EQ(keys(line), (std::vector<std::string>{"id", "meta", "input_rouge1", "rouge1", "rouge2",
                                                  "rougeL", "rougeLsum"}));
  EXPECT_EQ(line["id"], "doc-7");
  EXPECT_EQ(line["meta"]["k"], 1);
  EXPECT_EQ(line["input_rouge1"], "mine");
  EXPECT_DOUBLE_EQ(line["rouge1"]["fmeasure"].get<double>(), 1.0);
}

TEST(RougeCli, FieldFlagsAndCsvInput) {
  TempDir tmp;
  const std::string in =
      write_file(tmp, "pairs.csv", "id,system,gold\n1,\"the cat, it sat\",the cat sat\n");
  const RunResult r =
      run_kiln("rouge --prediction-field system --reference-field gold -i " + in, false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto line = json_lines(r.output).at(0);
  EXPECT_EQ(line["id"], "1");
  EXPECT_DOUBLE_EQ(line["rouge1"]["recall"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(line["rouge1"]["precision"].get<double>(), 3.0 / 4);
}

TEST(RougeCli, AggregateIsTheMeanOfEachNumber) {
  TempDir tmp;
  const std::string in =
      write_file(tmp, "pairs.jsonl",
                 "{\"id\": 1, \"prediction\": \"a b\", \"reference\": \"a b\"}\n"
                 "{\"id\": 2, \"prediction\": \"a\", \"reference\": \"a b c d\"}\n");
  const RunResult r = run_kiln("rouge --aggregate -i " + in, false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = json_lines(r.output);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(keys(lines[0]), (std::vector<std::string>{"rouge1", "rouge2", "rougeL", "rougeLsum"}));
  EXPECT_DOUBLE_EQ(lines[0]["rouge1"]["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(lines[0]["rouge1"]["recall"].get<double>(), (1.0 + 0.25) / 2);
  EXPECT_DOUBLE_EQ(lines[0]["rouge2"]["precision"].get<double>(), 0.5);
}

TEST(RougeCli, AggregateOverTheRougeScoreFixtures) {
  if (!std::filesystem::exists(kRefs + "rouge_cases.jsonl")) GTEST_SKIP() << "no fixtures";
  std::ifstream aggregate_file(kRefs + "rouge_aggregate.json");
  const json results = json::parse(aggregate_file)["results"];
  for (const bool stem : {false, true}) {
    const RunResult r = run_kiln(std::string("rouge --aggregate") + (stem ? " --use-stemmer" : "") +
                                     " -i " + kRefs + "rouge_cases.jsonl",
                                 false);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto got = json_lines(r.output).at(0);
    const json& want = results[stem ? "stem" : "nostem"]["mean"];
    for (const char* type : {"rouge1", "rouge2", "rougeL", "rougeLsum"})
      for (const char* value : {"precision", "recall", "fmeasure"})
        EXPECT_NEAR(got[type][value].get<double>(), want[type][value].get<double>(), 1e-6)
            << type << " " << value << (stem ? " stem" : "");
  }
}

TEST(RougeCli, OutputFile) {
  TempDir tmp;
  const std::string in =
      write_file(tmp, "pairs.jsonl", "{\"prediction\": \"a b\", \"reference\": \"a\"}\n");
  const RunResult r = run_kiln("rouge -i " + in + " -o " + (tmp / "scores.jsonl"), false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "");
  std::stringstream written;
  written << std::ifstream(tmp / "scores.jsonl").rdbuf();
  EXPECT_DOUBLE_EQ(json_lines(written.str()).at(0)["rouge1"]["precision"].get<double>(), 0.5);
}

TEST(RougeCli, MalformedLineNamesFileAndLineAfterTheLinesBefore) {
  TempDir tmp;
  const std::string in = write_file(tmp, "bad.jsonl",
                                    "{\"prediction\": \"a\", \"reference\": \"a\"}\n"
                                    "{\"prediction\": \"a\", \n");
  const RunResult out = run_kiln("rouge -i " + in, false);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(json_lines(out.output).size(), 1u);  // the good first line was written
  const RunResult r = run_kiln("rouge -i " + in);
  EXPECT_NE(r.output.find(in + ":2: malformed JSON"), std::string::npos) << r.output;
}

TEST(RougeCli, MissingOrNonStringFieldIsAnError) {
  TempDir tmp;
  const std::string missing =
      write_file(tmp, "missing.jsonl", "{\"prediction\": \"a\", \"gold\": \"a\"}\n");
  RunResult r = run_kiln("rouge -i " + missing);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(missing + ":1: missing field \"reference\""), std::string::npos)
      << r.output;

  const std::string number =
      write_file(tmp, "number.jsonl", "{\"prediction\": 3, \"reference\": \"a\"}\n");
  r = run_kiln("rouge --aggregate -i " + number);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(number + ":1: field \"prediction\" must be a string"), std::string::npos)
      << r.output;

  // --skip-bad-lines: a warning per bad line, the others scored, exit 0.
  const std::string mixed =
      write_file(tmp, "mixed.jsonl",
                 "{\"prediction\": 3, \"reference\": \"a\"}\n{\"prediction\": \"a\", "
                 "\"reference\": \"a\"}\n");
  r = run_kiln("rouge --skip-bad-lines -i " + mixed, false);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(json_lines(r.output).size(), 1u);
}

TEST(RougeCli, UsageErrors) {
  RunResult r = run_kiln("rouge --use-stemer");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--use-stemer"), std::string::npos) << r.output;
  r = run_kiln("rouge --input-format yaml < /dev/null");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_kiln("rouge --aggregate < /dev/null");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no pairs"), std::string::npos) << r.output;
}

TEST(RougeCli, ListedInHelp) {
  const RunResult r = run_kiln("--help");
  EXPECT_NE(r.output.find("rouge"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kiln::testing
