// kiln convert / classify / tag end to end on the Hugging Face fixtures: the CLI must predict the
// labels transformers predicted (reference.json), and bad input must fail with a clear message.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<nlohmann::json> parse_lines(const std::string& s) {
  std::vector<nlohmann::json> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

class ClassifyFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ClassifyFixture, PredictsTheTransformersLabels) {
  const std::string dir = kRefs + GetParam();
  if (!std::filesystem::exists(dir)) GTEST_SKIP();
  TempDir tmp;
  for (const char* dtype : {"f32", "bf16"}) {
    const std::string model = tmp / (std::string("m-") + dtype + ".kiln");
    auto conv = run_kiln("convert " + dir + " -o " + model + " --dtype " + dtype);
    ASSERT_EQ(conv.exit_code, 0) << conv.output;
    const auto ref = read_json(dir + "/reference.json");
    {
      std::ofstream in(tmp / "in.jsonl");
      for (const auto& t : ref["reference_texts"]) in << nlohmann::json{{"text", t}}.dump() << "\n";
    }
    auto r = run_kiln("classify -m " + model + " --probs -i " + (tmp / "in.jsonl"), false);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto rows = parse_lines(r.output);
    ASSERT_EQ(rows.size(), ref["predicted"].size());
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(rows[i]["label"], ref["predicted"][i]) << dtype << " row " << i;
      double total = 0;
      for (auto& [k, v] : rows[i]["probs"].items()) total += v.get<double>();
      EXPECT_NEAR(total, 1.0, 1e-5);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ClassifyFixture,
                         ::testing::Values("bert-seqcls", "distilbert-seqcls", "roberta-seqcls"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(TagCli, PredictsTheTransformersTagsAndSpans) {
  const std::string dir = kRefs + "bert-tokcls";
  if (!std::filesystem::exists(dir)) GTEST_SKIP();
  TempDir tmp;
  ASSERT_EQ(run_kiln("convert " + dir + " -o " + (tmp / "m.kiln")).exit_code, 0);
  const auto ref = read_json(dir + "/reference.json");
  {
    std::ofstream in(tmp / "in.jsonl");
    for (const auto& x : ref["reference_inputs"])
      in << nlohmann::json{{"words", x["words"]}}.dump() << "\n";
  }
  auto r = run_kiln("tag -m " + (tmp / "m.kiln") + " --probs -i " + (tmp / "in.jsonl"), false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto rows = parse_lines(r.output);
  ASSERT_EQ(rows.size(), ref["predicted_tags"].size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["labels"], ref["predicted_tags"][i]) << "document " << i;
    EXPECT_EQ(rows[i]["words"], ref["reference_inputs"][i]["words"]);
    EXPECT_EQ(rows[i]["probs"].size(), rows[i]["words"].size());
    const std::string text = rows[i]["text"];
    for (const auto& s : rows[i]["spans"]) {
      const size_t start = s["start"], end = s["end"];
      EXPECT_EQ(text.substr(start, end - start), s["text"].get<std::string>());
      EXPECT_EQ(s["label"], "KEY");
    }
  }
  // Sliding windows over a long text equal a single pass where the text fits.
  {
    std::ofstream in(tmp / "text.jsonl");
    for (const auto& x : ref["reference_inputs"]) {
      std::string t;
      for (const auto& w : x["words"]) t += (t.empty() ? "" : " ") + w.get<std::string>();
      in << nlohmann::json{{"text", t}}.dump() << "\n";
    }
  }
  auto whole = run_kiln("tag -m " + (tmp / "m.kiln") + " -i " + (tmp / "text.jsonl"), false);
  auto windowed =
      run_kiln("tag -m " + (tmp / "m.kiln") + " --stride 100 -i " + (tmp / "text.jsonl"), false);
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_EQ(whole.output, windowed.output);
}

TEST(TaskCli, BadInputGivesClearErrors) {
  const std::string dir = kRefs + "bert-tokcls";
  if (!std::filesystem::exists(dir)) GTEST_SKIP();
  TempDir tmp;
  const std::string model = tmp / "m.kiln";
  ASSERT_EQ(run_kiln("convert " + dir + " -o " + model).exit_code, 0);

  auto wrong_task = run_kiln("classify -m " + model + " -i /dev/null");
  EXPECT_EQ(wrong_task.exit_code, 1);
  EXPECT_NE(wrong_task.output.find("BertForTokenClassification"), std::string::npos)
      << wrong_task.output;
  EXPECT_NE(wrong_task.output.find("sequence classification"), std::string::npos)
      << wrong_task.output;

  auto unknown = run_kiln("tag -m " + model + " --bogus");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("--bogus"), std::string::npos) << unknown.output;

  {
    std::ofstream in(tmp / "bad.jsonl");
    in << "{\"text\": \"fine\"}\n{\"text\": broken\n";
  }
  auto bad = run_kiln("tag -m " + model + " -i " + (tmp / "bad.jsonl"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("bad.jsonl:2"), std::string::npos) << bad.output;
  {
    std::ofstream in(tmp / "nofield.jsonl");
    in << "{\"txt\": \"x\"}\n";
  }
  auto nofield = run_kiln("tag -m " + model + " -i " + (tmp / "nofield.jsonl"));
  EXPECT_EQ(nofield.exit_code, 1);
  EXPECT_NE(nofield.output.find("missing field \"text\""), std::string::npos) << nofield.output;

  auto not_model = run_kiln("tag -m " + dir + "/model.safetensors -i /dev/null");
  EXPECT_EQ(not_model.exit_code, 1);
  EXPECT_NE(not_model.output.find("not a kiln model file"), std::string::npos) << not_model.output;
}

TEST(ConvertCli, MismatchedCheckpointListsNames) {
  const std::string src = kRefs + "bert-seqcls";
  if (!std::filesystem::exists(src)) GTEST_SKIP();
  TempDir tmp;
  std::filesystem::copy_file(src + "/config.json", tmp / "config.json");
  auto sd = nn::load_safetensors(src + "/model.safetensors");
  sd.erase("classifier.bias");
  sd["cls.predictions.bias"] = sd["classifier.weight"];
  nn::save_safetensors(tmp / "model.safetensors", sd);
  auto r = run_kiln("convert " + tmp.path() + " -o " + (tmp / "out.kiln") + " --no-tokenizer");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing: classifier.bias"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unexpected: cls.predictions.bias"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(tmp / "out.kiln"));

  auto missing = run_kiln("convert " + (tmp / "nope") + " -o " + (tmp / "x.kiln"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("nope"), std::string::npos);

  nlohmann::json cfg = read_json(src + "/config.json");
  cfg["model_type"] = "gpt2";
  std::ofstream(tmp / "config.json") << cfg.dump();
  auto unsupported = run_kiln("convert " + tmp.path() + " -o " + (tmp / "x.kiln"));
  EXPECT_EQ(unsupported.exit_code, 1);
  EXPECT_NE(unsupported.output.find("model_type 'gpt2'"), std::string::npos) << unsupported.output;
}

}  // namespace
}  // namespace kiln::testing
