#include "train/sgd.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "core/thread_pool.h"

namespace kiln::train {

namespace {

std::vector<std::string> sgd_slots(const SGDOptions& o) {
  if (o.momentum == 0) return {};
  return {"momentum_buffer"};
}

}  // namespace

SGD::SGD(NamedParams params, SGDOptions options, bool (*decay)(const std::string&))
    : Optimizer("sgd", std::move(params), options.lr, sgd_slots(options)), options_(options) {
  // torch.optim.SGD's own checks.
  KILN_CHECK(options_.lr >= 0, "sgd: invalid learning rate ", options_.lr);
  KILN_CHECK(options_.momentum >= 0, "sgd: invalid momentum ", options_.momentum);
  KILN_CHECK(options_.weight_decay >= 0, "sgd: invalid weight decay ", options_.weight_decay);
  KILN_CHECK(!options_.nesterov || (options_.momentum > 0 && options_.dampening == 0),
             "sgd: Nesterov momentum needs a momentum above 0 and zero dampening");
  for (const auto& [name, p] : this->params()) decay_.push_back(decay ? decay(name) : true);
}

void SGD::step() {
  NoGradGuard ng;
  ++steps_;
  // Scalars are rounded once to f32, as torch does with Python floats; the order of operations
  // is torch's: d = g + wd * w; buf = buf * momentum + (1 - dampening) * d (buf = d at first);
  // d = nesterov ? d + momentum * buf : buf; w = w + (-lr) * d.
  const bool use_momentum = options_.momentum != 0;
  const float momentum = static_cast<float>(options_.momentum);
  const float one_minus_dampening = static_cast<float>(1.0 - options_.dampening);
  const float neg_lr = static_cast<float>(-lr());
  for (size_t i = 0; i < params().size(); ++i) {
    Tensor& p = *params()[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    g = g.contiguous();
    const bool decays = decay_[i] && options_.weight_decay != 0;
    const float wd = static_cast<float>(options_.weight_decay);
    begin_in_place_write(p, "SGD::step");  // a backward still holding p must not run after this
    float* w = p.data<float>();
    const float* gp = g.data<float>();
    float* buf = nullptr;
    bool first = false;
    if (use_momentum) {
      Tensor& b = slot(0, i);
      first = !b.defined();
      if (first) b = Tensor::empty(p.shape(), DType::F32);
      buf = b.data<float>();
    }
    parallel_for(0, p.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        float d = gp[j];
        if (decays) d = d + wd * w[j];
        if (buf) {
          if (first) {
            buf[j] = d;  // torch: buf = clone(d) on a parameter's first update, undamped
          } else {
            const float kept = buf[j] * momentum;
            buf[j] = kept + one_minus_dampening * d;
          }
          d = options_.nesterov ? d + momentum * buf[j] : buf[j];
        }
        w[j] = w[j] + neg_lr * d;
      }
    });
  }
}

}  // namespace kiln::train
