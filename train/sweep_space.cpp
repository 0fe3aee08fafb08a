#include "train/sweep_space.h"

#include <charconv>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/rng.h"

namespace kiln::train {
namespace {

using Type = SweepParam::Type;

Type parse_type(const std::string& s, const std::string& where) {
  if (s == "uniform") return Type::Uniform;
  if (s == "loguniform") return Type::LogUniform;
  if (s == "int") return Type::Int;
  if (s == "choice") return Type::Choice;
  throw Error(where + ".type: '" + s + "' is not one of uniform, loguniform, int, choice");
}

double number_field(const nlohmann::ordered_json& spec, const char* key, const std::string& where) {
  KILN_CHECK(spec.contains(key), where, ": missing \"", key, "\"");
  const auto& v = spec[key];
  KILN_CHECK(v.is_number() && std::isfinite(v.get<double>()), where, ".", key,
             ": expected a finite number, got ", v.dump());
  return v.get<double>();
}

SweepParam parse_param(const std::string& name, const nlohmann::ordered_json& spec,
                       const std::string& origin) {
  const std::string where = origin + ": " + name;
  KILN_CHECK(!name.empty() && name[0] != '-', origin, ": parameter \"", name,
             "\": name a kiln train flag without its dashes (learning-rate, not --learning-rate)");
  KILN_CHECK(name != "output" && name != "resume" && name != "stop-after-epochs" &&
                 name != "stop-after-steps",
             where, ": the sweep sets --", name, " itself");
  KILN_CHECK(spec.is_object(), where, ": expected an object such as {\"type\": \"uniform\", ",
             "\"low\": 0, \"high\": 1}, got ", spec.dump());
  KILN_CHECK(spec.contains("type") && spec["type"].is_string(), where,
             ": missing \"type\" (uniform, loguniform, int or choice)");
  SweepParam p;
  p.name = name;
  p.type = parse_type(spec["type"].get<std::string>(), where);
  const bool ranged = p.type != Type::Choice;
  for (const auto& [key, value] : spec.items()) {
    const bool known = key == "type" || (ranged && (key == "low" || key == "high")) ||
                       (!ranged && key == "values") ||
                       (key == "points" && (p.type == Type::Uniform || p.type == Type::LogUniform));
    KILN_CHECK(known, where, ".", key, ": not a field of a ", spec["type"].get<std::string>(),
               " parameter");
  }
  if (p.type == Type::Choice) {
    KILN_CHECK(spec.contains("values"), where, ": missing \"values\" (a non-empty array)");
    const auto& values = spec["values"];
    KILN_CHECK(values.is_array() && !values.empty(), where,
               ".values: expected a non-empty array, got ", values.dump());
    for (size_t i = 0; i < values.size(); ++i)
      KILN_CHECK(values[i].is_string() || values[i].is_number() || values[i].is_boolean(), where,
                 ".values[", i, "]: expected a string, number or boolean, got ", values[i].dump());
    p.values = nlohmann::json::parse(values.dump());
    return p;
  }
  p.low = number_field(spec, "low", where);
  p.high = number_field(spec, "high", where);
  if (p.type == Type::Int) {
    KILN_CHECK(p.low == std::floor(p.low) && p.high == std::floor(p.high) &&
                   std::fabs(p.low) < 9e15 && std::fabs(p.high) < 9e15,
               where, ": low and high of an int parameter must be integers");
    KILN_CHECK(p.low <= p.high, where, ": low (", p.low, ") must not exceed high (", p.high, ")");
    return p;
  }
  KILN_CHECK(p.low < p.high, where, ": low (", p.low, ") must be below high (", p.high, ")");
  if (p.type == Type::LogUniform)
    KILN_CHECK(p.low > 0, where, ".low: a loguniform range must be above 0, got ", p.low);
  if (spec.contains("points")) {
    const auto& n = spec["points"];
    KILN_CHECK(n.is_number_integer() && n.get<int64_t>() >= 2, where,
               ".points: expected an integer of at least 2, got ", n.dump());
    p.points = n.get<int64_t>();
  }
  return p;
}

// The value at fraction u in [0, 1] of a ranged parameter (u = 1 is `high` for the grid).
nlohmann::json value_at(const SweepParam& p, double u) {
  switch (p.type) {
    case Type::Uniform:
      return p.low + u * (p.high - p.low);
    case Type::LogUniform:
      return std::exp(std::log(p.low) + u * (std::log(p.high) - std::log(p.low)));
    case Type::Int: {
      // Each of the high - low + 1 integers equally likely; u < 1 keeps the index in range.
      const double count = p.high - p.low + 1;
      return static_cast<int64_t>(p.low + std::min(std::floor(u * count), count - 1));
    }
    case Type::Choice:
      break;
  }
  return nullptr;
}

std::vector<nlohmann::json> grid_values(const SweepParam& p) {
  std::vector<nlohmann::json> out;
  if (p.type == Type::Choice) {
    for (const auto& v : p.values) out.push_back(v);
  } else if (p.type == Type::Int) {
    for (double v = p.low; v <= p.high && out.size() <= 100000; ++v)
      out.push_back(static_cast<int64_t>(v));
  } else {
    KILN_CHECK(p.points >= 2, p.name, ": a grid search needs \"points\" (how many values) on a ",
               p.type == Type::Uniform ? "uniform" : "loguniform", " parameter");
    for (int64_t i = 0; i < p.points; ++i)
      out.push_back(value_at(p, static_cast<double>(i) / static_cast<double>(p.points - 1)));
    out.back() = p.high;  // exactly, not exp(log(high))
  }
  return out;
}

}  // namespace

SearchSpace parse_search_space(const nlohmann::ordered_json& j, const std::string& origin) {
  KILN_CHECK(j.is_object(), origin, ": expected a JSON object of parameters, got ", j.type_name());
  KILN_CHECK(!j.empty(), origin, ": the search space has no parameters");
  SearchSpace space;
  for (const auto& [name, spec] : j.items())
    space.params.push_back(parse_param(name, spec, origin));
  return space;
}

SearchSpace read_search_space(const std::string& path) {
  std::ifstream f(path);
  KILN_CHECK(f, path, ": cannot open");
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed JSON (" + e.what() + ")");
  }
  return parse_search_space(j, path);
}

nlohmann::ordered_json sample_params(const SearchSpace& space, uint64_t seed, uint64_t index) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  const uint64_t n = space.params.size();
  for (uint64_t k = 0; k < n; ++k) {
    const SweepParam& p = space.params[k];
    const double u = Generator::uniform64_at(seed, index * n + k);  // [0, 1)
    if (p.type == Type::Choice) {
      const auto count = static_cast<double>(p.values.size());
      out[p.name] = p.values[static_cast<size_t>(std::min(std::floor(u * count), count - 1))];
    } else {
      out[p.name] = value_at(p, u);
    }
  }
  return out;
}

std::vector<nlohmann::ordered_json> grid_params(const SearchSpace& space, size_t max_size) {
  std::vector<std::vector<nlohmann::json>> axes;
  size_t total = 1;
  for (const auto& p : space.params) {
    axes.push_back(grid_values(p));
    total *= axes.back().size();
    KILN_CHECK(total <= max_size, "the grid has more than ", max_size,
               " combinations; use --search random");
  }
  std::vector<nlohmann::ordered_json> out;
  for (size_t i = 0; i < total; ++i) {
    nlohmann::ordered_json combo = nlohmann::ordered_json::object();
    size_t rest = i;
    std::vector<size_t> pick(axes.size());
    for (size_t k = axes.size(); k-- > 0;) {  // the last parameter varies fastest
      pick[k] = rest % axes[k].size();
      rest /= axes[k].size();
    }
    for (size_t k = 0; k < axes.size(); ++k) combo[space.params[k].name] = axes[k][pick[k]];
    out.push_back(std::move(combo));
  }
  return out;
}

std::string param_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer()) return value.dump();
  if (value.is_number_float()) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, value.get<double>());
    return std::string(buf, r.ptr);
  }
  return value.dump();
}

}  // namespace kiln::train
