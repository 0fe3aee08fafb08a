// ASHA's rungs and promotion rule: the top ceil(n / eta) of the trials at a rung so far continue,
// matching Ray Tune's percentile cutoff; non-finite results never continue.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

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

TEST(Asha, TopOneOverEtaOfTheTrialsAtARungContinue) {
  AshaRungs a({1, 4, 2, true});
  EXPECT_TRUE(a.report(1, 0.5));    // the first to arrive always continues
  EXPECT_FALSE(a.report(1, 0.4));   // 2 values, keep 1: 0.5 is better
  EXPECT_TRUE(a.report(1, 0.9));    // 3 values, keep 2: best
  EXPECT_FALSE(a.report(1, 0.45));  // 4 values, keep 2: 0.9 and 0.5 are better
  EXPECT_TRUE(a.report(1, 0.5));    // a tie with the 2nd best continues (Ray: >= cutoff)
  EXPECT_EQ(a.recorded(1).size(), 5u);
  EXPECT_TRUE(a.recorded(2).empty());
  EXPECT_TRUE(a.report(2, 0.1));  // rungs are independent
}

TEST(Asha, MinModeAndNonFiniteValues) {
  AshaRungs a({1, 9, 3, false});
  EXPECT_TRUE(a.report(1, 0.7));
  EXPECT_FALSE(a.report(1, 0.8));  // loss: larger is worse
  EXPECT_FALSE(a.report(1, NAN));
  EXPECT_TRUE(a.report(1, 0.2));  // 4 values, keep 2
  EXPECT_FALSE(a.report(1, INFINITY));
  AshaRungs b({1, 9, 3, true});
  EXPECT_FALSE(b.report(1, NAN));  // even first
}

// Ray's rule: continue iff value >= the (1 - 1/eta) percentile (linear interpolation) of the
// values recorded at the rung, this one included. Same answers on a fixed pseudo-random stream.
TEST(Asha, MatchesRaysPercentileCutoff) {
  for (int64_t eta : {2, 3, 4}) {
    AshaRungs a({1, 100, eta, true});
    std::vector<double> seen;
    uint64_t x = 12345;
    for (int i = 0; i < 60; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const double v = static_cast<double>(x >> 40) / static_cast<double>(1 << 24);
      seen.push_back(v);
      std::vector<double> sorted = seen;
      std::sort(sorted.begin(), sorted.end());
      const double pos =
          (1.0 - 1.0 / static_cast<double>(eta)) * static_cast<double>(sorted.size() - 1);
      const auto lo = static_cast<size_t>(std::floor(pos));
      const size_t hi = std::min(lo + 1, sorted.size() - 1);
      const double cutoff =
          sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
      // (the tolerance absorbs the rounding of an interpolation position that is a whole number)
      EXPECT_EQ(a.report(1, v), v >= cutoff - 1e-12) << "eta " << eta << " report " << i;
    }
  }
}

}  // namespace
}  // namespace kiln::train
