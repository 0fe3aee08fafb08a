#include "nn/head_transfer.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "nn/empty_init.h"

namespace kiln::nn {
namespace {

// At most 20 names, so that an error about a whole damaged file stays readable.
std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 20; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 20) out += " and " + std::to_string(names.size() - 20) + " more";
  return out;
}

}  // namespace

HeadTransfer load_with_fresh_head(const ModelFamily& family, Model& model,
                                  const nlohmann::json& model_config,
                                  const nlohmann::json& weights_config, const StateDict& weights,
                                  Generator& init, const std::string& origin) {
  // Every name the model answers to: parameters (with their tied aliases) and buffers.
  std::set<std::string> known;
  std::vector<std::string> params;
  for (const auto& [name, t] : model.named_parameters()) {
    known.insert(name);
    params.push_back(name);
  }
  for (const auto& [name, t] : model.named_buffers()) known.insert(name);
  const auto aliases = model.parameter_aliases();
  std::map<std::string, std::vector<std::string>> names_of;  // canonical -> its aliases
  for (const auto& [alias, canonical] : aliases) {
    known.insert(alias);
    names_of[canonical].push_back(alias);
  }

  HeadTransfer out;
  StateDict renamed;
  for (const auto& [name, t] : weights) {
    const std::string to = family.rename_weight(weights_config, model_config, name);
    if (!known.count(to)) {
      out.dropped.push_back(name);
      continue;
    }
    KILN_CHECK(!renamed.count(to), origin, ": two tensors map to '", to, "'");
    renamed[to] = t;
  }
  for (const auto& name : params) {
    bool present = renamed.count(name) > 0;
    for (const auto& alias : names_of[name]) present |= renamed.count(alias) > 0;
    if (!present) out.newly_initialized.push_back(name);
  }
  if (!out.newly_initialized.empty()) {
    // A parameter of the weights' own model that the weights lack is a damaged file, not a new
    // head: refuse it rather than train a half-random encoder.
    std::vector<std::string> lacking;
    // Only its parameter names are read: build it without allocating them.
    const std::unique_ptr<Model> own = [&] {
      EmptyInit empty;
      return family.build(weights_config, origin);
    }();
    for (const auto& [name, t] : own->named_parameters()) {
      const std::string to = family.rename_weight(weights_config, model_config, name);
      if (!weights.count(name) &&
          std::find(out.newly_initialized.begin(), out.newly_initialized.end(), to) !=
              out.newly_initialized.end())
        lacking.push_back(name);
    }
    KILN_CHECK(lacking.empty(), origin, ": missing parameters: ", join_names(lacking));

    model.init_weights(init);
    const StateDict fresh = model.state_dict();
    for (const auto& name : out.newly_initialized) renamed[name] = fresh.at(name);
  }
  model.load_state_dict(renamed, /*strict=*/true, origin);
  std::sort(out.newly_initialized.begin(), out.newly_initialized.end());
  std::sort(out.dropped.begin(), out.dropped.end());
  return out;
}

}  // namespace kiln::nn
