// Optimizers and gradient utilities. Updates run in place under no-grad, one fused pass per
// parameter, in f32 with the same operation order as torch.optim so short runs track PyTorch's
// losses step for step.
//
// Every optimizer derives from Optimizer, whose state (per-parameter tensors such as Adam's
// moments, plus a few scalars) is exchanged BY PARAMETER NAME, so a checkpoint does not depend on
// the order of the parameter list. make_optimizer() builds one by kind ("adamw", "sgd"); SGD lives
// in train/sgd.h.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kiln::train {

using NamedParams = std::vector<std::pair<std::string, Tensor*>>;

// An optimizer's resumable state. Slot names are torch's (exp_avg, exp_avg_sq, momentum_buffer);
// a parameter absent from a slot has not been updated yet (it never had a gradient).
struct OptimizerState {
  std::string kind;                                            // "adamw", "sgd"
  nlohmann::json scalars = nlohmann::json::object();           // {"step": updates done}
  std::map<std::string, std::map<std::string, Tensor>> slots;  // slot -> parameter name -> tensor
  std::string origin;  // where it was read from, for error messages (e.g. the checkpoint's path)
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& kind() const { return kind_; }
  // One update from the parameters' current .grad(); parameters without a gradient are skipped
  // (their state stays untouched, as in torch).
  virtual void step() = 0;
  void zero_grad();
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  const NamedParams& params() const { return params_; }
  int64_t steps() const { return steps_; }

  // The state tensors are the live ones (no copy): save them before the next step() or copy them.
  OptimizerState state_dict() const;
  // Takes copies of `state`'s tensors, matched to the parameters by name. Errors (naming
  // state.origin): another kind ("sgd" state into an "adamw" optimizer), a slot this optimizer
  // does not keep, a parameter name it does not have, a shape that differs, a parameter present in
  // some slots but not others. A parameter absent from every slot starts fresh, as one that has
  // never had a gradient. Nothing changes unless the whole state is accepted.
  void load_state_dict(const OptimizerState& state);

 protected:
  // Checks that every parameter can be updated in place (f32, contiguous, writable) and appears
  // once: a tensor listed twice (e.g. a tied weight under two names) would be updated twice.
  Optimizer(std::string kind, NamedParams params, double lr, std::vector<std::string> slot_names);
  // State tensor `slot` (an index into slot_names) of parameter `param`; undefined until that
  // parameter's first update.
  Tensor& slot(size_t slot, size_t param) { return slots_[slot][param]; }
  int64_t steps_ = 0;

 private:
  std::string kind_;
  NamedParams params_;
  double lr_;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Tensor>> slots_;  // [slot][parameter]
};

// Hugging Face's convention: no weight decay on biases and normalisation weights.
bool default_decay_filter(const std::string& name);

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
};

// torch.optim.AdamW (amsgrad off). Slots: exp_avg, exp_avg_sq.
class AdamW : public Optimizer {
 public:
  // `decay(name)` says whether a parameter gets weight decay (default: every parameter, as a bare
  // torch.optim.AdamW does; pass default_decay_filter for the Hugging Face Trainer's choice).
  AdamW(NamedParams params, AdamWOptions options, bool (*decay)(const std::string&) = nullptr);
  void step() override;

 private:
  std::vector<bool> decay_;
  AdamWOptions options_;  // options_.lr is only the initial rate; lr() is the current one
};

// Everything make_optimizer needs, for any kind; each kind reads its own fields.
struct OptimizerOptions {
  double lr = 1e-3;
  double weight_decay = 0.0;                      // AdamW: decoupled; SGD: added to the gradient
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW
  double momentum = 0.0, dampening = 0.0;         // SGD
  bool nesterov = false;                          // SGD
  // Which parameters get weight decay: all (torch's default) or Hugging Face's choice
  // (default_decay_filter: not biases and normalisation weights).
  enum class Decay { All, NotBiasesAndNorms } decay = Decay::All;
};

// The known kinds, for help texts and errors.
std::vector<std::string> optimizer_kinds();
// An optimizer of `kind` over `params`; an unknown kind is an error listing the known ones.
std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, NamedParams params,
                                          const OptimizerOptions& options);

// torch.nn.utils.clip_grad_norm_: scales all gradients by min(1, max_norm / (total + 1e-6)) where
// total is the 2-norm over every gradient. Returns the norm before clipping.
double clip_grad_norm(const NamedParams& params, double max_norm);

}  // namespace kiln::train
