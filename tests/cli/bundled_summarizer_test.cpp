// The summarizer the README's main job runs (examples/summarizer/summarizer-bf16.kiln, trained by
// examples/summarizer/recipe.sh): it loads, fits the 30 MB the repository allows, and its
// summaries read their input. Each summary of the bundled articles must share more of its words
// with its own article than with the others (a model that ignores its encoder, as the recipe's
// first runs did, writes the same text for every input and fails this).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

const std::string kDir = std::string(KILN_SOURCE_DIR) + "/examples/summarizer/";
const std::string kModel = kDir + "summarizer-bf16.kiln";

std::set<std::string> words(const std::string& text) {
  std::set<std::string> out;
  std::string w;
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      if (w.size() > 3) out.insert(w);  // content words, not "the" / "and"
      w.clear();
    }
  }
  return out;
}

double overlap(const std::set<std::string>& summary, const std::set<std::string>& source) {
  if (summary.empty()) return 0;
  size_t n = 0;
  for (const auto& w : summary) n += source.count(w);
  return static_cast<double>(n) / static_cast<double>(summary.size());
}

TEST(BundledSummarizer, FitsAndSummarizesWhatItReads) {
  ASSERT_TRUE(std::filesystem::exists(kModel)) << kModel;
  EXPECT_LE(std::filesystem::file_size(kModel), 30'000'000u);
  const auto r = run_kiln("summarize -m " + kModel + " -i " + kDir +
                              "demo-news.jsonl --num-beams 2 --min-length 20 --max-length 80 "
                              "--no-repeat-ngram-size 3 --threads 2",
                          false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> summaries;
  std::istringstream out(r.output);
  for (std::string line; std::getline(out, line);)
    if (!line.empty()) summaries.push_back(nlohmann::json::parse(line).at("summary"));
  std::vector<std::set<std::string>> articles;
  std::ifstream in(kDir + "demo-news.jsonl");
  for (std::string line; std::getline(in, line);)
    articles.push_back(words(nlohmann::json::parse(line).at("text")));
  ASSERT_EQ(summaries.size(), articles.size());
  ASSERT_GE(summaries.size(), 2u);
  for (size_t i = 0; i < summaries.size(); ++i) {
    const auto s = words(summaries[i]);
    EXPECT_GE(s.size(), 3u) << summaries[i];
    const double own = overlap(s, articles[i]);
    for (size_t j = 0; j < articles.size(); ++j) {
      if (j == i) continue;
      EXPECT_GT(own, overlap(s, articles[j]))
          << "summary " << i << " reads like article " << j << ": " << summaries[i];
    }
  }
}

}  // namespace
}  // namespace kiln::testing
