// The sweep's search space: parsing with errors naming the field, seeded random sampling that is
// a pure function of (seed, trial), grids, and parameter values as command-line text.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "train/sweep_space.h"

namespace kiln::train {
namespace {

SearchSpace parse(const std::string& text) {
  return parse_search_space(nlohmann::ordered_json::parse(text), "space.json");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char* kSpace = R"({
  "learning-rate": {"type": "loguniform", "low": 1e-5, "high": 1e-1},
  "warmup-ratio": {"type": "uniform", "low": 0, "high": 0.5},
  "seed": {"type": "int", "low": 1, "high": 3},
  "lr-scheduler": {"type": "choice", "values": ["linear", "cosine"]}})";

TEST(SweepSpace, SamplesAreInRangeAndAPureFunctionOfSeedAndTrial) {
  const SearchSpace space = parse(kSpace);
  ASSERT_EQ(space.params.size(), 4u);
  EXPECT_EQ(space.params[0].name, "learning-rate");  // the file's order
  std::set<int64_t> seeds;
  std::set<std::string> schedulers;
  double log_sum = 0;
  const int n = 400;
  for (int i = 0; i < n; ++i) {
    const auto s = sample_params(space, 7, i);
    EXPECT_EQ(s, sample_params(space, 7, i));  // same seed and trial: same values
    const double lr = s["learning-rate"].get<double>();
    EXPECT_GE(lr, 1e-5);
    EXPECT_LT(lr, 1e-1);
    log_sum += std::log10(lr);
    const double w = s["warmup-ratio"].get<double>();
    EXPECT_GE(w, 0.0);
    EXPECT_LT(w, 0.5);
    ASSERT_TRUE(s["seed"].is_number_integer());
    seeds.insert(s["seed"].get<int64_t>());
    schedulers.insert(s["lr-scheduler"].get<std::string>());
  }
  EXPECT_EQ(seeds, (std::set<int64_t>{1, 2, 3}));  // both ends of an int range are drawn
  EXPECT_EQ(schedulers.size(), 2u);
  // Log-uniform: log10 is uniform on [-5, -1], mean -3 (sd of the mean ~0.058 for 400 draws).
  EXPECT_NEAR(log_sum / n, -3.0, 0.25);
  EXPECT_NE(sample_params(space, 7, 0), sample_params(space, 8, 0));
  EXPECT_NE(sample_params(space, 7, 0), sample_params(space, 7, 1));
}

TEST(SweepSpace, GridTakesEveryCombinationFirstParameterSlowest) {
  const SearchSpace space = parse(R"({
    "learning-rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2, "points": 3},
    "per-device-batch-size": {"type": "choice", "values": [4, 8]}})");
  const auto grid = grid_params(space);
  ASSERT_EQ(grid.size(), 6u);
  EXPECT_NEAR(grid[0]["learning-rate"].get<double>(), 1e-4, 1e-18);
  EXPECT_NEAR(grid[2]["learning-rate"].get<double>(), 1e-3, 1e-15);
  EXPECT_EQ(grid[5]["learning-rate"].get<double>(), 1e-2);  // the end exactly
  EXPECT_EQ(grid[0]["per-device-batch-size"], 4);
  EXPECT_EQ(grid[1]["per-device-batch-size"], 8);
  const std::string e = [&] {
    try {
      grid_params(parse(R"({"warmup-ratio": {"type": "uniform", "low": 0, "high": 1}})"));
    } catch (const Error& err) {
      return std::string(err.what());
    }
    return std::string();
  }();
  EXPECT_NE(e.find("warmup-ratio"), std::string::npos) << e;
  EXPECT_NE(e.find("points"), std::string::npos) << e;
}

TEST(SweepSpace, ErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* expect;
  };
  const Case cases[] = {
      {R"([1])", "expected a JSON object"},
      {R"({})", "no parameters"},
      {R"({"lr": {"type": "gauss", "low": 0, "high": 1}})", "lr.type: 'gauss'"},
      {R"({"lr": {"low": 0, "high": 1}})", "lr: missing \"type\""},
      {R"({"lr": {"type": "uniform", "high": 1}})", "lr: missing \"low\""},
      {R"({"lr": {"type": "uniform", "low": "a", "high": 1}})", "lr.low: expected a finite number"},
      {R"({"lr": {"type": "uniform", "low": 2, "high": 1}})", "lr: low (2) must be below high"},
      {R"({"lr": {"type": "loguniform", "low": 0, "high": 1}})", "lr.low: a loguniform range"},
      {R"({"lr": {"type": "uniform", "low": 0, "high": 1, "values": [1]}})",
       "lr.values: not a field"},
      {R"({"n": {"type": "int", "low": 0.5, "high": 3}})", "n: low and high of an int"},
      {R"({"c": {"type": "choice", "values": []}})", "c.values: expected a non-empty array"},
      {R"({"c": {"type": "choice", "values": [[1]]}})", "c.values[0]"},
      {R"({"lr": {"type": "uniform", "low": 0, "high": 1, "points": 1}})", "lr.points"},
      {R"({"--lr": {"type": "uniform", "low": 0, "high": 1}})", "without its dashes"},
      {R"({"output": {"type": "choice", "values": ["a"]}})", "the sweep sets --output"},
  };
  for (const auto& c : cases) {
    const std::string e = error_of(c.json);
    EXPECT_NE(e.find("space.json"), std::string::npos) << c.json << " -> " << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.json << " -> " << e;
  }
}

TEST(SweepSpace, ParamTextIsExactAndPlain) {
  EXPECT_EQ(param_text(nlohmann::json(0.001)), "0.001");
  EXPECT_EQ(param_text(nlohmann::json(3)), "3");
  EXPECT_EQ(param_text(nlohmann::json("cosine")), "cosine");
  EXPECT_EQ(param_text(nlohmann::json(true)), "true");
  const double v = 0.1 + 0.2;
  EXPECT_EQ(std::stod(param_text(nlohmann::json(v))), v);  // reads back to the same double
}

}  // namespace
}  // namespace kiln::train
