// Thread counts: --threads N and KILN_NUM_THREADS must be a whole number from 1 to 1024. A bad
// --threads is a usage error (exit 2) in every command that takes it; a bad KILN_NUM_THREADS is
// an error naming the variable (exit 1), not a silent fallback to all cores.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli/cli_util.h"
#include "tools/threads.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kExample = std::string(KILN_SOURCE_DIR) + "/examples/keyphrase-bert-mini.kiln";
const std::string kInspecSample = std::string(KILN_SOURCE_DIR) + "/examples/inspec-abstracts.jsonl";
const std::string kShared = KILN_SHARED_DIR;
const std::string kTokenizer = kShared + "/tokenizers/bert-base-cased";

TEST(Threads, ParseThreadCountAcceptsOnlyOneTo1024) {
  EXPECT_EQ(cli::parse_thread_count("1"), 1);
  EXPECT_EQ(cli::parse_thread_count("8"), 8);
  EXPECT_EQ(cli::parse_thread_count("1024"), 1024);
  EXPECT_EQ(cli::parse_thread_count("008"), 8);
  for (const char* bad : {"0", "-1", "1025", "2000", "5000", "abc", "", " 4", "4 ", "+4", "4k",
                          "0x10", "1.5", "99999999999999999999999"})
    EXPECT_FALSE(cli::parse_thread_count(bad).has_value()) << "'" << bad << "'";
}

// One command line per command that takes --threads; each would get past its other checks.
std::vector<std::pair<std::string, std::string>> commands(const TempDir& tmp) {
  return {
      {"tag", "tag -m " + kExample + " -i " + kInspecSample},
      {"classify", "classify -m " + kExample + " -i " + kInspecSample},
      {"forward", "forward -m " + kExample + " -i " + (tmp / "in.safetensors") + " -o " +
                      (tmp / "out.safetensors")},
      {"tokenize", "tokenize -t " + kTokenizer + " -i " + kInspecSample},
      {"convert", "convert " + kExample + " -o " + (tmp / "out.kiln")},
      {"eval", "eval -m " + kExample + " --task token-classification -i " + kInspecSample},
      {"train", "train --task token-classification --train " + kInspecSample + " --output " +
                    (tmp / "run") + " --model " + kExample},
  };
}

TEST(Threads, ABadThreadsFlagIsAUsageErrorInEveryCommand) {
  TempDir tmp;
  for (const auto& [name, command] : commands(tmp)) {
    for (const std::string value : {"0", "-1", "2000", "abc"}) {
      const RunResult r = run_kiln(command + " --threads " + value);
      EXPECT_EQ(r.exit_code, 2) << name << " --threads " << value << ": " << r.output;
      EXPECT_NE(r.output.find("kiln " + name + ": --threads must be a whole number from 1 to " +
                              "1024, got '" + value + "'"),
                std::string::npos)
          << name << ": " << r.output;
    }
  }
  EXPECT_FALSE(fs::exists(tmp / "run"));  // refused before anything was made
  EXPECT_FALSE(fs::exists(tmp / "out.kiln"));
}

TEST(Threads, ABadKilnNumThreadsIsAnErrorNamingIt) {
  TempDir tmp;
  for (const auto& [name, command] : commands(tmp)) {
    for (const std::string value : {"0", "abc", "5000", "-2", ""}) {
      const RunResult r = run_kiln(command, true, "KILN_NUM_THREADS='" + value + "' ");
      EXPECT_EQ(r.exit_code, 1) << name << " KILN_NUM_THREADS=" << value << ": " << r.output;
      EXPECT_NE(r.output.find("kiln " + name +
                              ": error: environment variable KILN_NUM_THREADS must be a whole "
                              "number from 1 to 1024, got '" +
                              value + "'"),
                std::string::npos)
          << name << ": " << r.output;
    }
  }
  EXPECT_FALSE(fs::exists(tmp / "run"));
  EXPECT_FALSE(fs::exists(tmp / "out.kiln"));
}

TEST(Threads, AValidCountWorksAndTheFlagOverridesTheEnvironment) {
  RunResult r = run_kiln("tag -m " + kExample + " -i " + kInspecSample + " --threads 2", false,
                         "KILN_NUM_THREADS=3 ");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // --threads wins, so the variable is not consulted.
  r = run_kiln("tag -m " + kExample + " -i " + kInspecSample + " --threads 1", false,
               "KILN_NUM_THREADS=abc ");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_kiln("tag -m " + kExample + " -i " + kInspecSample, false, "KILN_NUM_THREADS=1 ");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Neither given: all cores, as before.
  r = run_kiln("tag -m " + kExample + " -i " + kInspecSample, false, "unset KILN_NUM_THREADS; ");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(Threads, HelpSaysTheDefault) {
  const RunResult r = run_kiln("tag --help");
  EXPECT_NE(r.output.find("worker threads, 1 to 1024 (default: KILN_NUM_THREADS if set, else all "
                          "cores)"),
            std::string::npos)
      << r.output;
}

std::string tiny_config(const TempDir& dir) {
  std::ofstream(dir / "config.json")
      << R"({"model_type": "bert", "vocab_size": 28996, "hidden_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 128})";
  return dir / "config.json";
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// The count a run used is recorded in its manifest; a run made before validation, whose command
// line said "--threads 0" (then: all cores), still resumes.
TEST(Threads, TrainRecordsTheCountAndResumesARunMadeWithTheOldZero) {
  const std::string train = kShared + "/data/inspec/inspec_train.jsonl";
  if (!fs::exists(kTokenizer) || !fs::exists(train)) GTEST_SKIP() << "data not present";
  TempDir tmp;
  {
    std::ifstream in(train);
    std::ofstream out(tmp / "train.jsonl");
    std::string line;
    for (int i = 0; i < 8 && std::getline(in, line); ++i) out << line << "\n";
  }
  const std::string run = tmp / "run";
  const RunResult r =
      run_kiln("train --task token-classification --train " + (tmp / "train.jsonl") + " --output " +
                   run + " --config " + tiny_config(tmp) + " --tokenizer " + kTokenizer +
                   " --max-length 32 --per-device-batch-size 4 --epochs 2 --stop-after-epochs 1",
               true, "KILN_NUM_THREADS=2 ");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json manifest = read_json(run + "/manifest.json");
  EXPECT_EQ(manifest["threads"], 2);
  EXPECT_FALSE(manifest["options"].contains("threads")) << "no --threads given, none recorded";

  // Rewrite the recorded command line as an older kiln would have stored "--threads 0".
  manifest["args"].push_back("--threads");
  manifest["args"].push_back("0");
  std::ofstream(run + "/manifest.json") << manifest.dump(2);
  const RunResult resumed = run_kiln("train --resume " + run, true, "unset KILN_NUM_THREADS; ");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  // A new --threads 0 on resume is refused like anywhere else.
  const RunResult bad = run_kiln("train --resume " + run + " --threads 0");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
}

}  // namespace
}  // namespace kiln::testing
