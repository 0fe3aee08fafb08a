#include "nn/family.h"

#include <algorithm>

#include "core/error.h"

namespace kiln::nn {
namespace {

std::vector<std::shared_ptr<const ModelFamily>>& registry() {
  static std::vector<std::shared_ptr<const ModelFamily>> families;
  return families;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

void register_model_family(std::shared_ptr<const ModelFamily> family) {
  auto& r = registry();
  for (const auto& f : r)
    KILN_CHECK(f->name() != family->name(), "model family '", family->name(), "' registered twice");
  r.push_back(std::move(family));
  std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a->name() < b->name(); });
}

std::vector<std::shared_ptr<const ModelFamily>> model_families() {
  return registry();
}

const ModelFamily& family_by_name(const std::string& name, const std::string& origin) {
  std::vector<std::string> names;
  for (const auto& f : registry()) {
    if (f->name() == name) return *f;
    names.push_back(f->name());
  }
  throw Error(origin + ": model family '" + name +
              "' is not known to this kiln (families: " + join(names) + ")");
}

const ModelFamily& family_for_config(const nlohmann::json& config, const std::string& origin) {
  KILN_CHECK(config.is_object(), origin, ": config must be a JSON object");
  KILN_CHECK(config.contains("model_type") && config["model_type"].is_string(), origin,
             ": missing config field 'model_type' (a string)");
  const std::string type = config["model_type"].get<std::string>();
  std::vector<std::string> types;
  for (const auto& f : registry()) {
    const auto mine = f->model_types();
    if (std::find(mine.begin(), mine.end(), type) != mine.end()) return *f;
    types.insert(types.end(), mine.begin(), mine.end());
  }
  std::sort(types.begin(), types.end());
  throw Error(origin + ": model_type '" + type + "' is not supported (supported: " + join(types) +
              ")");
}

}  // namespace kiln::nn
