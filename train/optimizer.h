// Optimizers and gradient utilities. Updates run in place under no-grad, one fused pass per
// parameter, in f32 with the same operation order as torch.optim so short runs track PyTorch's
// losses step for step.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kiln::train {

using NamedParams = std::vector<std::pair<std::string, Tensor*>>;

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
};

// Hugging Face's convention: no weight decay on biases and normalisation weights.
bool default_decay_filter(const std::string& name);

class AdamW {
 public:
  // `decay(name)` says whether a parameter gets weight decay (default: every parameter, as a bare
  // torch.optim.AdamW does; pass default_decay_filter for the Hugging Face Trainer's choice).
  AdamW(NamedParams params, AdamWOptions options, bool (*decay)(const std::string&) = nullptr);

  // One update from the parameters' current .grad(); parameters without a gradient are skipped
  // (their moments stay untouched, as in torch).
  void step();
  void zero_grad();
  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  int64_t steps() const { return step_; }

  // Moments and step count, for checkpoints that resume bit-exactly.
  struct State {
    int64_t step = 0;
    std::vector<Tensor> m, v;  // aligned with the parameter list; undefined until first update
  };
  const State& state() const;
  void load_state(const State& s);
  const NamedParams& params() const { return params_; }

 private:
  NamedParams params_;
  std::vector<bool> decay_;
  AdamWOptions options_;
  int64_t step_ = 0;
  mutable State state_;
};

// torch.nn.utils.clip_grad_norm_: scales all gradients by min(1, max_norm / (total + 1e-6)) where
// total is the 2-norm over every gradient. Returns the norm before clipping.
double clip_grad_norm(const NamedParams& params, double max_norm);

}  // namespace kiln::train
