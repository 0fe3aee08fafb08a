// NLTK 3.8's PorterStemmer() (default NLTK_EXTENSIONS mode), the stemmer rouge-score uses. The
// expected stems are what NLTK 3.8 returns: the examples of Porter's paper for every rule (where
// NLTK departs from the paper, NLTK's answer), NLTK's irregular forms, and every word of the
// rouge-score fixtures (../shared/refs/rouge) that rouge-score stemmed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "train/porter_stemmer.h"

namespace kiln::train {
namespace {

// A table, several words to a line.
// clang-format off
const std::vector<std::pair<std::string, std::string>> kNltkStems = {
    // NLTK's documentation example
    {"caresses", "caress"}, {"flies", "fli"}, {"dies", "die"}, {"mules", "mule"},
    {"denied", "deni"}, {"died", "die"}, {"agreed", "agre"}, {"owned", "own"}, {"humbled", "humbl"},
    {"sized", "size"}, {"meeting", "meet"}, {"stating", "state"}, {"siezing", "siez"},
    {"itemization", "item"}, {"sensational", "sensat"}, {"traditional", "tradit"},
    {"reference", "refer"}, {"colonizer", "colon"}, {"plotted", "plot"},
    // step 1
    {"ponies", "poni"}, {"ties", "tie"}, {"cats", "cat"}, {"feed", "feed"},
    {"plastered", "plaster"}, {"bled", "bled"}, {"motoring", "motor"}, {"sing", "sing"},
    {"conflated", "conflat"}, {"troubled", "troubl"}, {"hopping", "hop"}, {"tanned", "tan"},
    {"falling", "fall"}, {"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"},
    {"filing", "file"}, {"using", "use"}, {"happy", "happi"}, {"enjoy", "enjoy"},
    {"quickly", "quickli"}, {"lazy", "lazi"}, {"goes", "goe"}, {"uses", "use"}, {"does", "doe"},
    {"eyes", "eye"}, {"runs", "run"},
    // irregular forms
    {"sky", "sky"}, {"skies", "sky"}, {"dying", "die"}, {"lying", "lie"}, {"tying", "tie"},
    {"news", "news"}, {"innings", "inning"}, {"outings", "outing"}, {"cannings", "canning"},
    {"howe", "howe"}, {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
    // step 2
    {"relational", "relat"}, {"conditional", "condit"}, {"rational", "ration"},
    {"valenci", "valenc"}, {"hesitanci", "hesit"}, {"digitizer", "digit"},
    {"conformabli", "conform"}, {"radicalli", "radic"}, {"differentli", "differ"},
    {"vileli", "vile"}, {"analogousli", "analog"}, {"vietnamization", "vietnam"},
    {"predication", "predic"}, {"operator", "oper"}, {"feudalism", "feudal"},
    {"decisiveness", "decis"}, {"hopefulness", "hope"}, {"callousness", "callous"},
    {"formaliti", "formal"}, {"sensitiviti", "sensit"}, {"sensibiliti", "sensibl"},
    {"geology", "geolog"}, {"theology", "theolog"}, {"archaeology", "archaeolog"},
    {"hopefully", "hope"}, {"generalization", "gener"}, {"organizer", "organ"},
    // step 3
    {"triplicate", "triplic"}, {"formative", "form"}, {"formalize", "formal"},
    {"electriciti", "electr"}, {"electrical", "electr"}, {"hopeful", "hope"}, {"goodness", "good"},
    // step 4
    {"revival", "reviv"}, {"allowance", "allow"}, {"inference", "infer"}, {"airliner", "airlin"},
    {"gyroscopic", "gyroscop"}, {"adjustable", "adjust"}, {"defensible", "defens"},
    {"irritant", "irrit"}, {"replacement", "replac"}, {"adjustment", "adjust"},
    {"dependent", "depend"}, {"adoption", "adopt"}, {"homologou", "homolog"},
    {"communism", "commun"}, {"activate", "activ"}, {"angulariti", "angular"},
    {"homologous", "homolog"}, {"effective", "effect"}, {"bowdlerize", "bowdler"},
    // step 5
    {"probate", "probat"}, {"rate", "rate"}, {"cease", "ceas"}, {"controll", "control"},
    {"roll", "roll"},
    // digits, y as a vowel or consonant, short words, capitals (lower-cased after the pool
    // lookup, so "Skies" is not found there)
    {"1990s", "1990"}, {"mp3s", "mp3"}, {"covid19", "covid19"}, {"yyyy", "yyyi"},
    {"syzygy", "syzygi"}, {"enjoyment", "enjoy"}, {"abc", "abc"}, {"ab", "ab"}, {"a", "a"},
    {"", ""}, {"Skies", "ski"}, {"CATS", "cat"}, {"News", "new"}, {"Running", "run"},
};
// clang-format on

TEST(PorterStemmer, MatchesNltk) {
  for (const auto& [word, stem] : kNltkStems) EXPECT_EQ(porter_stem(word), stem) << word;
}

TEST(PorterStemmer, LongRunOfYs) {
  // Each 'y' is a vowel or consonant by the letter before it, so a run of y's alternates: the
  // last of an even run follows a consonant and turns into i (NLTK: "yyyy" -> "yyyi", and the
  // same at 300 and 301 y's). A long run must not recurse once per 'y'.
  EXPECT_EQ(porter_stem(std::string(100000, 'y')), std::string(99999, 'y') + "i");
  EXPECT_EQ(porter_stem(std::string(100001, 'y')), std::string(100001, 'y'));
}

// rouge-score stems exactly the tokens longer than 3 characters, so the fixtures' unstemmed and
// stemmed token lists pair up one to one.
TEST(PorterStemmer, EveryStemmedWordOfTheRougeFixtures) {
  const std::string path = std::string(KILN_SHARED_DIR) + "/refs/rouge/rouge_cases.jsonl";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no fixture " << path;
  std::ifstream in(path);
  std::string line;
  size_t checked = 0;
  while (std::getline(in, line)) {
    const auto c = nlohmann::json::parse(line);
    for (const char* side : {"prediction", "reference"}) {
      const auto& plain = c["tokens"]["nostem"][side];
      const auto& stemmed = c["tokens"]["stem"][side];
      ASSERT_EQ(plain.size(), stemmed.size()) << c["id"];
      for (size_t i = 0; i < plain.size(); ++i) {
        const std::string word = plain[i];
        if (word.size() <= 3) continue;
        EXPECT_EQ(porter_stem(word), stemmed[i].get<std::string>()) << c["id"] << " " << word;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 10000u);
}

}  // namespace
}  // namespace kiln::train
