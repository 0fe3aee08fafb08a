// torch.optim.SGD, exactly: weight decay added to the gradient, momentum with dampening, Nesterov
// momentum, the momentum buffer set to the gradient itself on a parameter's first update, and
// parameters without a gradient skipped.
#pragma once

#include "train/optimizer.h"

namespace kiln::train {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0, dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening 0, as torch requires
};

// Slot: momentum_buffer (only with momentum > 0).
class SGD : public Optimizer {
 public:
  // `decay(name)` says whether a parameter gets weight decay (default: every parameter).
  SGD(NamedParams params, SGDOptions options, bool (*decay)(const std::string&) = nullptr);
  void step() override;

 private:
  std::vector<bool> decay_;
  SGDOptions options_;  // options_.lr is only the initial rate; lr() is the current one
};

}  // namespace kiln::train
