#include "quant/conv_speed_check.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>

#include "core/error.h"

namespace kiln::quant {
namespace {

bool in_scope(SpeedCheck scope, const std::string& format) {
  const auto f = parse_format(format);
  if (!f) return false;  // f32 / bf16 / f16: not a quantized GEMM
  return scope == SpeedCheck::All || (scope == SpeedCheck::Int8 && *f == Format::Int8);
}

// "3x3" for a [c_out, c_in, kh, kw] weight.
std::string kernel_size(const TensorDecision& d) {
  KILN_CHECK(d.shape.size() == 4, "conv speed check: '", d.name, "' is not a 4-D conv weight");
  return std::to_string(d.shape[2]) + "x" + std::to_string(d.shape[3]);
}

std::string ms(double v) {
  std::ostringstream os;
  os << std::setprecision(3) << v << " ms";
  return os.str();
}

std::string group_list(const std::vector<std::string>& groups, unsigned mask) {
  std::string out;
  for (size_t g = 0; g < groups.size(); ++g)
    if (mask & (1u << g)) out += (out.empty() ? "" : ", ") + groups[g];
  return out;
}

}  // namespace

nlohmann::json apply_conv_speed_check(std::vector<TensorDecision>& decisions,
                                      const SpeedCheckOptions& options, int rounds,
                                      const ForwardTimer& time_forward) {
  KILN_CHECK(rounds >= 1, "conv speed check: rounds must be at least 1");
  KILN_CHECK(options.tie_margin >= 0, "conv speed check: the tie margin must be >= 0");
  if (options.scope == SpeedCheck::Off) return nullptr;
  // The convolutions in scope, grouped by kernel size.
  std::map<std::string, std::vector<size_t>> by_kernel;
  for (size_t i = 0; i < decisions.size(); ++i)
    if (decisions[i].kind == "conv" && in_scope(options.scope, decisions[i].format))
      by_kernel[kernel_size(decisions[i])].push_back(i);
  if (by_kernel.empty()) return nullptr;
  std::vector<std::string> groups;
  std::vector<std::vector<size_t>> members;
  if (by_kernel.size() > kMaxConvGroups) {
    groups = {"all"};
    members.emplace_back();
    for (const auto& [k, idx] : by_kernel)
      members[0].insert(members[0].end(), idx.begin(), idx.end());
  } else {
    for (const auto& [k, idx] : by_kernel) groups.push_back(k), members.push_back(idx);
  }
  // Arrangement `mask`: the groups whose bits are set back in float.
  const unsigned arrangements = 1u << groups.size();
  auto with_float = [&](unsigned mask) {
    std::vector<TensorDecision> d = decisions;
    for (size_t g = 0; g < groups.size(); ++g)
      if (mask & (1u << g))
        for (size_t i : members[g]) d[i].format = "f32";
    return d;
  };
  std::vector<std::vector<double>> samples(arrangements);
  for (int r = 0; r < rounds; ++r)
    for (unsigned j = 0; j < arrangements; ++j) {
      const unsigned mask = (j + static_cast<unsigned>(r)) % arrangements;
      samples[mask].push_back(time_forward(with_float(mask)));
    }
  std::vector<double> med(arrangements);
  unsigned best = 0;
  for (unsigned m = 0; m < arrangements; ++m) {
    med[m] = median(samples[m]);
    if (med[m] < med[best]) best = m;
  }
  // The quantized arrangement stays unless another is faster by more than the margin.
  if (med[best] * (1.0 + options.tie_margin) >= med[0]) best = 0;

  const std::string timing = "model forward " + ms(med[0]) + " with these convs quantized";
  for (size_t g = 0; g < groups.size(); ++g) {
    const bool back = best & (1u << g);
    const double alone = med[1u << g];
    for (size_t i : members[g]) {
      TensorDecision& d = decisions[i];
      if (back) {
        d.reason = "never slower: " + timing + ", " + ms(med[best]) + " with the " +
                   group_list(groups, best) + " convs in float; was: " + d.reason;
        d.format = "f32";
        d.drop = NAN;
      } else {
        d.reason += "; not slower: " + timing + ", " + ms(alone) + " with the " + groups[g] +
                    " convs in float";
      }
    }
  }
  nlohmann::json record = {{"groups", groups},
                           {"rounds", rounds},
                           {"tie_margin", options.tie_margin},
                           {"kept_float", group_list(groups, best)}};
  record["arrangements"] = nlohmann::json::array();
  for (unsigned m = 0; m < arrangements; ++m)
    record["arrangements"].push_back({{"float_groups", group_list(groups, m)},
                                      {"median_ms", med[m]},
                                      {"samples_ms", samples[m]}});
  return record;
}

}  // namespace kiln::quant
