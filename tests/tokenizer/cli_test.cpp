// `kiln tokenize` end to end: runs the built binary (KILN_BIN) on small inputs.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/tokenizer/reference_util.h"

namespace kiln::tok {
namespace {

using testing::shared_path;

struct RunResult {
  int exit_code;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `kiln tokenize <args>` with `input` on stdin.
RunResult run_tokenize(const std::string& args, const std::string& input) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("kiln_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string in = (dir / "in.jsonl").string(), out = (dir / "out").string(),
                    err = (dir / "err").string();
  std::ofstream(in) << input;
  const std::string cmd = std::string("'") + KILN_BIN + "' tokenize " + args + " < '" + in +
                          "' > '" + out + "' 2> '" + err + "'";
  const int status = std::system(cmd.c_str());
  RunResult r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  fs::remove_all(dir);
  return r;
}

std::vector<nlohmann::json> lines_of(const std::string& s) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST(tokenizer_cli, EncodesLikeTheReference) {
  // The first 30 fixture lines through the CLI must match the Hugging Face reference.
  const auto rows = testing::load_jsonl(shared_path("refs/tokenizers/bert-cased.jsonl"));
  std::string input;
  for (size_t i = 0; i < 30; ++i) {
    nlohmann::json in = {{"text", rows[i]["text"]}};
    if (rows[i].contains("pair")) in["pair"] = rows[i]["pair"];
    input += in.dump() + "\n";
  }
  input += "\n";  // blank lines are skipped
  const auto r =
      run_tokenize("--tokenizer '" + shared_path("tokenizers/bert-base-cased") + "'", input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 30u);
  for (size_t i = 0; i < 30; ++i) {
    EXPECT_EQ(out[i]["ids"], rows[i]["ids"]) << "line " << i + 1;
    EXPECT_EQ(out[i]["tokens"], rows[i]["tokens"]) << "line " << i + 1;
    EXPECT_EQ(out[i]["type_ids"], rows[i]["type_ids"]) << "line " << i + 1;
    EXPECT_EQ(out[i]["special_tokens_mask"], rows[i]["special_tokens_mask"]) << "line " << i + 1;
    EXPECT_EQ(out[i]["decoded"], rows[i]["decoded"]) << "line " << i + 1;
    if (rows[i].contains("offsets_bytes")) {
      EXPECT_EQ(out[i]["offsets"], rows[i]["offsets_bytes"]) << "line " << i + 1;
    } else {
      EXPECT_FALSE(out[i].contains("offsets")) << "line " << i + 1;
    }
  }
}

TEST(tokenizer_cli, InputFileAndNoSpecialTokens) {
  namespace fs = std::filesystem;
  const fs::path file = fs::temp_directory_path() / ("kiln_cli_in_" + std::to_string(::getpid()));
  std::ofstream(file) << "{\"text\": \"Hello world\"}\n";
  const auto r =
      run_tokenize("--tokenizer '" + shared_path("tokenizers/bart-large-cnn/tokenizer.json") +
                       "' --input '" + file.string() + "' --add-special-tokens=false",
                   "");
  fs::remove(file);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["ids"], nlohmann::json({31414, 232}));
  EXPECT_EQ(out[0]["tokens"], nlohmann::json({"Hello", "\xC4\xA0world"}));
  EXPECT_EQ(out[0]["offsets"], nlohmann::json({{0, 5}, {6, 11}}));
  EXPECT_EQ(out[0]["decoded"], "Hello world");
}

TEST(tokenizer_cli, TruncationAndPaddingFlags) {
  const auto r = run_tokenize(
      "-t '" + shared_path("tokenizers/bert-base-cased") + "' --max-length 5 --padding max_length",
      "{\"text\": \"one two three four five\"}\n{\"text\": \"a\"}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["tokens"], nlohmann::json({"[CLS]", "one", "two", "three", "[SEP]"}));
  EXPECT_EQ(out[1]["tokens"], nlohmann::json({"[CLS]", "a", "[SEP]", "[PAD]", "[PAD]"}));
  EXPECT_EQ(out[1]["attention_mask"], nlohmann::json({1, 1, 1, 0, 0}));
}

TEST(tokenizer_cli, UnknownFlagIsAUsageError) {
  const auto r =
      run_tokenize("--tokenizer '" + shared_path("tokenizers/bert-base-cased") + "' --frobnicate",
                   "{\"text\": \"x\"}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--frobnicate"), std::string::npos) << r.err;
  EXPECT_EQ(run_tokenize("", "").exit_code, 2);  // --tokenizer is required
  EXPECT_EQ(run_tokenize("-t x --truncation sideways --max-length 3", "").exit_code, 2);
}

TEST(tokenizer_cli, MalformedLineNamesTheLine) {
  const std::string tok = "--tokenizer '" + shared_path("tokenizers/bert-base-cased") + "'";
  auto r = run_tokenize(tok, "{\"text\": \"fine\"}\n{\"text\": \"broken\"\n{\"text\": \"x\"}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  r = run_tokenize(tok, "{\"text\": \"fine\"}\n\n{\"txt\": \"x\"}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"text\""), std::string::npos) << r.err;
  r = run_tokenize(tok, "{\"text\": \"bad \xff utf8\"}\n");  // invalid UTF-8 inside the JSON
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
  r = run_tokenize(tok, "{\"text\": \"ok\", \"pair\": 7}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
}

TEST(tokenizer_cli, BadTokenizerPathIsAnError) {
  const auto r = run_tokenize("--tokenizer /nonexistent/dir", "{\"text\": \"x\"}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/dir"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kiln::tok
