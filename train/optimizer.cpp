#include "train/optimizer.h"

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/thread_pool.h"

namespace kiln::train {

bool default_decay_filter(const std::string& name) {
  auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  const bool is_norm =
      name.find("LayerNorm") != std::string::npos || name.find("layer_norm") != std::string::npos;
  return !(ends("bias") || is_norm);
}

AdamW::AdamW(NamedParams params, AdamWOptions options, bool (*decay)(const std::string&))
    : params_(std::move(params)), options_(options) {
  for (const auto& [name, p] : params_) {
    KILN_CHECK(p->dtype() == DType::F32, "AdamW: parameter ", name, " is ", p->describe(),
               "; master weights must be f32");
    KILN_CHECK(p->is_contiguous(), "AdamW: parameter ", name, " is not contiguous");
    KILN_CHECK(
        p->storage()->writable(), "AdamW: parameter ", name,
        " is a read-only view of a mapped model file; clone() the parameters before training");
    decay_.push_back(decay ? decay(name) : true);
  }
  state_.m.resize(params_.size());
  state_.v.resize(params_.size());
}

void AdamW::step() {
  NoGradGuard ng;
  ++step_;
  // Scalars are formed in double and rounded once to f32, as torch does with Python floats.
  const float b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  const float one_minus_b1 = static_cast<float>(1.0 - options_.beta1);
  const float one_minus_b2 = static_cast<float>(1.0 - options_.beta2);
  const float eps = static_cast<float>(options_.eps);
  // torch computes the bias corrections in double (Python floats) and feeds them as scalars.
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  const float step_size = static_cast<float>(options_.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = *params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    g = g.contiguous();
    if (!state_.m[i].defined()) {
      state_.m[i] = Tensor::zeros(p.shape(), DType::F32);
      state_.v[i] = Tensor::zeros(p.shape(), DType::F32);
    }
    float* w = p.data<float>();
    const float* gp = g.data<float>();
    float* m = state_.m[i].data<float>();
    float* v = state_.v[i].data<float>();
    const float decay =
        decay_[i] ? static_cast<float>(1.0 - options_.lr * options_.weight_decay) : 1.0f;
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

void AdamW::zero_grad() {
  for (auto& [name, p] : params_) p->zero_grad();
}

const AdamW::State& AdamW::state() const {
  state_.step = step_;
  return state_;
}

void AdamW::load_state(const State& s) {
  KILN_CHECK(s.m.size() == params_.size() && s.v.size() == params_.size(),
             "AdamW: optimizer state has ", s.m.size(), " entries for ", params_.size(),
             " parameters");
  step_ = s.step;
  state_ = s;
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
