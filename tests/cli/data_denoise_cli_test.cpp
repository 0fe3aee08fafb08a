// `kiln data denoise`: BART pre-training pairs from text fields and review lists.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

TEST(DataDenoiseCli, WritesNoisedCopiesOfEveryPieceWithTheOriginalAsSummary) {
  TempDir tmp;
  std::ofstream(tmp / "in.jsonl")
      << R"({"article": "One two three four five six seven eight. Nine ten eleven twelve."})"
         "\n"
      << R"({"reviews": ["Great food and very friendly staff here.", "Too short."]})"
         "\n";
  auto r = run_kiln("data denoise -i " + (tmp / "in.jsonl") + " --field article,reviews -o " +
                    (tmp / "out.jsonl") + " --copies 2 --min-words 3 --max-words 8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(tmp / "out.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  // Pieces: the two sentences of the article (8 + 4 words, limit 8) and the long review.
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0]["summary"], "One two three four five six seven eight.");
  EXPECT_EQ(lines[1]["summary"], lines[0]["summary"]);
  EXPECT_NE(lines[0]["text"], lines[1]["text"]);  // two copies, two noisings
  EXPECT_EQ(lines[4]["summary"], "Great food and very friendly staff here.");
  EXPECT_NE(lines[0]["text"].get<std::string>().find("<mask>"), std::string::npos);
}

TEST(DataDenoiseCli, NamesTheRecordWithoutTheFieldAndBadOptions) {
  TempDir tmp;
  std::ofstream(tmp / "in.jsonl") << R"({"text": "a b c d e f g h i j"})"
                                     "\n"
                                  << R"({"x": 1})"
                                     "\n";
  auto r = run_kiln("data denoise -i " + (tmp / "in.jsonl") + " -o " + (tmp / "o.jsonl"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("in.jsonl:2: none of the fields"), std::string::npos) << r.output;
  EXPECT_FALSE(std::ifstream(tmp / "o.jsonl").good());  // nothing half-written
  r = run_kiln("data denoise -i " + (tmp / "in.jsonl") + " -o " + (tmp / "o.jsonl") +
               " --mask-ratio 1.5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--mask-ratio"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kiln::testing
