#include "quant/measure_decisions.h"

#include <map>
#include <string>

#include "core/error.h"
#include "quant/sensitivity.h"

namespace kiln::quant {

double measure_decisions(nn::Module& model, const std::vector<TensorDecision>& decisions,
                         const std::function<double()>& measure) {
  std::map<std::string, Tensor> originals;
  for (const auto& [name, t] : model.named_parameters()) originals[name] = *t;
  std::map<std::string, std::vector<std::string>> names;
  for (const auto& [name, t] : originals) names[name] = {name};
  for (const auto& [alias, canonical] : model.parameter_aliases())
    if (names.count(canonical)) names[canonical].push_back(alias);
  std::vector<const TensorDecision*> applied;
  for (const TensorDecision& d : decisions) {
    if (d.format == "f32") continue;
    KILN_CHECK(originals.count(d.name), "quantize: the model has no parameter '", d.name, "'");
    applied.push_back(&d);
  }
  auto restore = [&] {
    for (const TensorDecision* d : applied)
      set_trial_format(model, names.at(d->name), originals.at(d->name), "");
  };
  try {
    for (const TensorDecision* d : applied)
      set_trial_format(model, names.at(d->name), originals.at(d->name), d->format);
    const double metric = measure();
    restore();
    return metric;
  } catch (...) {
    restore();
    throw;
  }
}

}  // namespace kiln::quant
