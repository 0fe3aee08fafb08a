// The search space of `kiln sweep`: a JSON object whose keys are `kiln train` flags (without the
// dashes) and whose values say how to draw them:
//   {"learning-rate": {"type": "loguniform", "low": 1e-5, "high": 1e-2},
//    "warmup-ratio":  {"type": "uniform", "low": 0, "high": 0.2},
//    "seed":          {"type": "int", "low": 1, "high": 100},
//    "lr-scheduler":  {"type": "choice", "values": ["linear", "cosine"]}}
// uniform and loguniform may add "points": N, the evenly spaced values (log-spaced for loguniform,
// ends included) that a grid search takes from them; int and choice grid over every value.
// Random search draws trial i's values from counters (seed, i), so a trial's parameters do not
// depend on how many trials ran before it, in which order, or whether the sweep was resumed.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::train {

struct SweepParam {
  enum class Type { Uniform, LogUniform, Int, Choice };
  std::string name;  // the kiln train flag, without dashes
  Type type = Type::Uniform;
  double low = 0, high = 0;  // uniform, loguniform, int (both ends included for int)
  int64_t points = 0;        // uniform/loguniform grid points (0: not griddable)
  nlohmann::json values;     // choice: the array of values
};

struct SearchSpace {
  std::vector<SweepParam> params;  // in the file's order
};

// Checks every field; errors name `origin` and the field ("space.json: learning-rate.low: ...").
SearchSpace parse_search_space(const nlohmann::ordered_json& j, const std::string& origin);
SearchSpace read_search_space(const std::string& path);

// Trial `index`'s values under random search, as {"name": value} in the space's order.
nlohmann::ordered_json sample_params(const SearchSpace& space, uint64_t seed, uint64_t index);

// Every combination, the first parameter varying slowest. Throws kiln::Error naming a uniform or
// loguniform parameter without "points", or a grid of more than `max_size` combinations.
std::vector<nlohmann::ordered_json> grid_params(const SearchSpace& space, size_t max_size = 100000);

// A value as a command-line argument: integers without a decimal point, reals in the shortest
// form that reads back to the same double, strings as they are, booleans as true/false.
std::string param_text(const nlohmann::json& value);

}  // namespace kiln::train
