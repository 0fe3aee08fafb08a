#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/thread_pool.h"
#include "train/sgd.h"

namespace kiln::train {

namespace {

// At most 20 names: a checkpoint of the wrong model can list every parameter.
std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < 20; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > 20) out += ", ... and " + std::to_string(v.size() - 20) + " more";
  return out.empty() ? "none" : out;
}

}  // namespace

Optimizer::Optimizer(std::string kind, NamedParams params, double lr,
                     std::vector<std::string> slot_names)
    : kind_(std::move(kind)),
      params_(std::move(params)),
      lr_(lr),
      slot_names_(std::move(slot_names)),
      slots_(slot_names_.size(), std::vector<Tensor>(params_.size())) {
  std::map<const TensorImpl*, std::string> seen;
  for (const auto& [name, p] : params_) {
    KILN_CHECK(p && p->defined(), kind_, ": parameter ", name, " has no tensor");
    KILN_CHECK(p->dtype() == DType::F32, kind_, ": parameter ", name, " is ", p->describe(),
               "; master weights must be f32");
    KILN_CHECK(p->is_contiguous(), kind_, ": parameter ", name, " is not contiguous");
    KILN_CHECK(
        p->storage()->writable(), kind_, ": parameter ", name,
        " is a read-only view of a mapped model file; clone() the parameters before training");
    const auto [first, fresh] = seen.emplace(&p->impl(), name);
    KILN_CHECK(fresh, kind_, ": parameter ", name, " is the same tensor as ", first->second,
               " (tied); list it once or it is updated twice");
  }
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) p->zero_grad();
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState s;
  s.kind = kind_;
  s.scalars["step"] = steps_;
  for (size_t k = 0; k < slot_names_.size(); ++k) {
    auto& by_name = s.slots[slot_names_[k]];
    for (size_t i = 0; i < params_.size(); ++i)
      if (slots_[k][i].defined()) by_name[params_[i].first] = slots_[k][i];
  }
  return s;
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  const std::string where = state.origin.empty() ? "" : state.origin + ": ";
  KILN_CHECK(state.kind == kind_, where, "the optimizer state is for '", state.kind,
             "' but this run's optimizer is '", kind_, "'");
  const auto step = state.scalars.find("step");
  KILN_CHECK(step != state.scalars.end() && step->is_number_integer() && step->get<int64_t>() >= 0,
             where, "the optimizer state has no valid step count");
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].first] = i;

  std::vector<std::vector<Tensor>> loaded(slot_names_.size(), std::vector<Tensor>(params_.size()));
  std::vector<std::string> unknown, mismatched;
  for (const auto& [slot_name, by_name] : state.slots) {
    const auto k = std::find(slot_names_.begin(), slot_names_.end(), slot_name);
    KILN_CHECK(k != slot_names_.end(), where, "the optimizer state has slot '", slot_name,
               "', which this ", kind_, " optimizer does not keep (it keeps: ", join(slot_names_),
               ")");
    for (const auto& [name, t] : by_name) {
      const auto i = index.find(name);
      if (i == index.end()) {
        unknown.push_back(slot_name + "." + name);
        continue;
      }
      const Tensor& p = *params_[i->second].second;
      if (t.shape() != p.shape()) {
        mismatched.push_back(slot_name + "." + name + " (state " + t.describe() + ", parameter " +
                             p.describe() + ")");
        continue;
      }
      // Copies: the optimizer updates its state in place, and `state` may be a mapped file.
      loaded[k - slot_names_.begin()][i->second] = t.to(DType::F32).clone();
    }
  }
  KILN_CHECK(unknown.empty(), where,
             "optimizer state for parameters this optimizer does not have: ", join(unknown),
             " (was the model changed?)");
  KILN_CHECK(mismatched.empty(), where, "optimizer state shape mismatch for ", join(mismatched));
  std::vector<std::string> partial;
  for (size_t i = 0; i < params_.size(); ++i) {
    size_t present = 0;
    for (const auto& s : loaded) present += s[i].defined();
    if (present != 0 && present != loaded.size()) partial.push_back(params_[i].first);
  }
  KILN_CHECK(partial.empty(), where, "optimizer state is incomplete for ", join(partial),
             " (it needs every slot of: ", join(slot_names_), ")");
  slots_ = std::move(loaded);
  steps_ = step->get<int64_t>();
}

bool default_decay_filter(const std::string& name) {
  auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  // Every LayerNorm of the supported families: BERT's "LayerNorm", BART's and DistilBERT's
  // "*layer_norm", and BART/LED's "layernorm_embedding" (the Trainer exempts nn.LayerNorm modules
  // whatever their name). Batch norm ("norm0", "norm1") is decayed, as the Trainer does.
  const bool is_norm = name.find("LayerNorm") != std::string::npos ||
                       name.find("layer_norm") != std::string::npos ||
                       name.find("layernorm") != std::string::npos;
  return !(ends("bias") || is_norm);
}

AdamW::AdamW(NamedParams params, AdamWOptions options, bool (*decay)(const std::string&))
    : Optimizer("adamw", std::move(params), options.lr, {"exp_avg", "exp_avg_sq"}),
      options_(options) {
  for (const auto& [name, p] : this->params()) decay_.push_back(decay ? decay(name) : true);
}

void AdamW::step() {
  NoGradGuard ng;
  ++steps_;
  const double lr = this->lr();
  // Scalars are formed in double and rounded once to f32, as torch does with Python floats.
  const float b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  const float one_minus_b1 = static_cast<float>(1.0 - options_.beta1);
  const float one_minus_b2 = static_cast<float>(1.0 - options_.beta2);
  const float eps = static_cast<float>(options_.eps);
  // torch computes the bias corrections in double (Python floats) and feeds them as scalars.
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  for (size_t i = 0; i < params().size(); ++i) {
    Tensor& p = *params()[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    g = g.contiguous();
    Tensor& exp_avg = slot(0, i);
    Tensor& exp_avg_sq = slot(1, i);
    if (!exp_avg.defined()) {
      exp_avg = Tensor::zeros(p.shape(), DType::F32);
      exp_avg_sq = Tensor::zeros(p.shape(), DType::F32);
    }
    begin_in_place_write(p, "AdamW::step");  // a backward still holding p must not run after this
    float* w = p.data<float>();
    const float* gp = g.data<float>();
    float* m = exp_avg.data<float>();
    float* v = exp_avg_sq.data<float>();
    const float decay = decay_[i] ? static_cast<float>(1.0 - lr * options_.weight_decay) : 1.0f;
    parallel_for(0, p.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        w[j] *= decay;
        m[j] = m[j] * b1 + one_minus_b1 * gp[j];
        v[j] = v[j] * b2 + one_minus_b2 * gp[j] * gp[j];
        const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
        w[j] -= step_size * (m[j] / denom);
      }
    });
  }
}

std::vector<std::string> optimizer_kinds() {
  return {"adamw", "sgd"};
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, NamedParams params,
                                          const OptimizerOptions& o) {
  bool (*decay)(const std::string&) =
      o.decay == OptimizerOptions::Decay::NotBiasesAndNorms ? default_decay_filter : nullptr;
  if (kind == "adamw")
    return std::make_unique<AdamW>(
        std::move(params), AdamWOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay}, decay);
  if (kind == "sgd")
    return std::make_unique<SGD>(
        std::move(params), SGDOptions{o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov},
        decay);
  throw Error("unknown optimizer '" + kind + "' (known: " + join(optimizer_kinds()) + ")");
}

double clip_grad_norm(const NamedParams& params, double max_norm) {
  NoGradGuard ng;
  // Per-parameter norms in f32 (as torch does), then the norm of those norms.
  std::vector<float> norms;
  for (const auto& [name, p] : params) {
    Tensor g = p->grad();
    if (!g.defined()) continue;
    norms.push_back(static_cast<float>(std::sqrt(sum_of_squares(g).item())));
  }
  double total2 = 0;
  for (float n : norms) total2 += static_cast<double>(n) * n;
  const float total = static_cast<float>(std::sqrt(total2));
  const float coef = static_cast<float>(max_norm) / (total + 1e-6f);
  if (coef < 1.0f) {
    for (const auto& [name, p] : params) {
      Tensor g = p->grad();
      if (!g.defined()) continue;
      mul_(g, static_cast<double>(coef));  // in place, as torch's clip_grad_norm_
    }
  }
  return total;
}

}  // namespace kiln::train
