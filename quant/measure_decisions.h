// The task metric of a model with a set of quantization decisions applied, measured in memory on
// a float model (the model is left float afterwards). `kiln quantize --scheme auto` uses it when
// a step after the accuracy budget (the never-slower speed check) changed decisions, so that the
// metric the file's metadata reports is the one of the file actually written.
#pragma once

#include <functional>
#include <vector>

#include "nn/module.h"
#include "quant/decisions.h"

namespace kiln::quant {

// Applies each decision's format to its tensor (and every alias of a tied one), calls `measure`,
// restores the float weights and returns what `measure` returned.
double measure_decisions(nn::Module& model, const std::vector<TensorDecision>& decisions,
                         const std::function<double()>& measure);

}  // namespace kiln::quant
