// ASHA's rungs and promotion rule, decided as Ray Tune's ASHAScheduler decides; non-finite results
// never continue.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/asha.h"

namespace kiln::train {
namespace {

TEST(Asha, RungsAreGraceTimesPowersOfEtaBelowTheBudget) {
  EXPECT_EQ(asha_rungs({1, 9, 3, true}), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(asha_rungs({1, 10, 3, true}), (std::vector<int64_t>{1, 3, 9}));
  EXPECT_EQ(asha_rungs({2, 16, 2, true}), (std::vector<int64_t>{2, 4, 8}));
  EXPECT_TRUE(asha_rungs({2, 2, 2, true}).empty());
  EXPECT_EQ(asha_next_target({1, 9, 3, true}, 0), 1);
  EXPECT_EQ(asha_next_target({1, 9, 3, true}, 1), 3);
  EXPECT_EQ(asha_next_target({1, 9, 3, true}, 3), 9);
  EXPECT_THROW(check_asha_config({0, 9, 3, true}), Error);
  EXPECT_THROW(check_asha_config({4, 3, 3, true}), Error);
  EXPECT_THROW(check_asha_config({1, 9, 1, true}), Error);
}

// Each expected decision string below is what Ray Tune 2.60's own _Bracket.on_result (ASHA with one
// bracket) answered for the same values, '1' CONTINUE, '0' STOP: the cutoff is the (1 - 1/eta)
// percentile of the values recorded at the rung before the one being decided.
std::string decisions(AshaRungs& a, const std::vector<double>& values) {
  std::string out;
  for (double v : values) out += a.report(1, v) ? '1' : '0';
  return out;
}

TEST(Asha, ContinuesAtOrAboveRaysCutoffOfTheEarlierTrials) {
  AshaRungs a({1, 4, 2, true});
  // 0.5 first: continues; 0.4 < 0.5; 0.9 >= median(0.5, 0.4); 0.45 < 0.5 (the 50th percentile of
  // 0.4, 0.5, 0.9); 0.5 ties the cutoff 0.475..0.5 and continues (Ray stops only below it).
  EXPECT_EQ(decisions(a, {0.5, 0.4, 0.9, 0.45, 0.5}), "10101");
  EXPECT_EQ(a.recorded(1).size(), 5u);
  EXPECT_TRUE(a.recorded(2).empty());
  EXPECT_TRUE(a.report(2, 0.1));  // rungs are independent
}

TEST(Asha, MinModeAndNonFiniteValues) {
  AshaRungs loss({1, 9, 3, false});  // Ray negates the metric in mode "min"
  EXPECT_EQ(decisions(loss, {0.7, 0.8, 0.2, 0.5, 0.2, 0.9}), "101110");
  AshaRungs a({1, 9, 3, false});
  EXPECT_TRUE(a.report(1, 0.7));
  EXPECT_FALSE(a.report(1, NAN));  // a diverged trial stops...
  EXPECT_FALSE(a.report(1, INFINITY));
  EXPECT_TRUE(a.report(1, 0.65));  // ...and does not count: the cutoff is still 0.7's
  AshaRungs b({1, 9, 3, true});
  EXPECT_FALSE(b.report(1, NAN));  // even first
}

TEST(Asha, MatchesRayTuneOnAPseudoRandomStream) {
  const std::map<int64_t, std::string> ray = {
      {2, "111101101011010010000001111001100110100010001010111101001001"},
      {3, "111100101011010000000000101000100110000010001010011100000001"},
      {4, "111100101011000000000000001000100100000010001010001000000001"}};
  for (const auto& [eta, expected] : ray) {
    // The generator of the script that asked Ray: x = x * a + c mod 2^64, value = top 24 bits /
    // 2^24.
    std::vector<double> values;
    uint64_t x = 12345;
    for (int i = 0; i < 60; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      values.push_back(static_cast<double>(x >> 40) / static_cast<double>(1 << 24));
    }
    AshaRungs a({1, 100, eta, true});
    EXPECT_EQ(decisions(a, values), expected) << "eta " << eta;
  }
}

}  // namespace
}  // namespace kiln::train
