#include "nn/family.h"

#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

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
  if (!config.contains("model_type"))
    for (const auto& f : registry())
      if (f->recognises_config(config)) return *f;
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
  for (const auto& f : registry())
    for (const auto& [refused, why] : f->refused_model_types())
      KILN_CHECK(refused != type, origin, ": model_type '", type, "' is not supported: ", why,
                 " (supported: ", join(types), ")");
  throw Error(origin + ": model_type '" + type + "' is not supported (supported: " + join(types) +
              ")");
}

namespace {

// "1.2e+12" for counts too large to read digit by digit; plain digits below a billion.
std::string count_text(double n) {
  std::ostringstream os;
  if (n < 1e9)
    os << static_cast<int64_t>(n);
  else
    os << std::setprecision(3) << n;
  return os.str();
}

std::string bytes_text(double b) {
  std::ostringstream os;
  os << std::setprecision(3) << b / (1024.0 * 1024 * 1024) << " GiB";
  return os.str();
}

}  // namespace

void check_config_against_tensors(const ModelFamily& family, const nlohmann::json& config,
                                  const StateDict& tensors, const std::string& origin) {
  family.check_tensors(config, tensors, origin);
  const int64_t implied = family.parameter_count(config, origin);
  if (implied <= 0) return;
  double stored = 0;
  for (const auto& [name, t] : tensors) stored += static_cast<double>(t.numel());
  // Stored tensors are the whole model (parameters and buffers), so a config that needs more is
  // not the config of these tensors; building it would allocate what the file never held.
  KILN_CHECK(static_cast<double>(implied) <= stored, origin, ": the config describes a model of ",
             count_text(static_cast<double>(implied)), " parameters, but the file holds only ",
             count_text(stored), " tensor elements: its sizes do not match the stored tensors");
}

void check_model_fits_memory(const ModelFamily& family, const nlohmann::json& config,
                             const std::string& origin, int64_t bytes_per_parameter) {
  const int64_t implied = family.parameter_count(config, origin);
  if (implied <= 0) return;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return;  // unknown: nothing to compare against
  const double memory = static_cast<double>(pages) * static_cast<double>(page);
  const double need = static_cast<double>(implied) * static_cast<double>(bytes_per_parameter);
  KILN_CHECK(need <= memory, origin, ": the config describes a model of ",
             count_text(static_cast<double>(implied)), " parameters, which needs ",
             bytes_text(need), " (", bytes_per_parameter,
             " bytes per parameter) but this machine has ", bytes_text(memory),
             " of memory: check its layer count, hidden, intermediate and vocabulary sizes");
}

}  // namespace kiln::nn
