// Harness cases for cross_entropy, following torch.nn.functional.cross_entropy with class-index
// targets: plain, ignore_index (a class id, and -100 written into the targets), label smoothing,
// class weights, all three together, reductions None/Sum/Mean, 1-D logits, i32 targets, and
// N == 0 (Sum gives 0, Mean gives NaN). Plus error cases for bad targets and options.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

struct CeCfg {
  int64_t ignore_index = -100;
  double smoothing = 0.0;
  bool weighted = false;
  Reduction reduction = Reduction::Mean;
  bool remap_last_to_ignore = false;  // targets equal to C-1 become ignore_index
  bool require_ignored = false;       // the case is pointless unless some target is ignored
  bool check_backward = true;
};

// Naive torch semantics: per-row loss, then reduce (weighted mean over non-ignored targets).
Ref ref_ce(const Ref& logits, const Ref& targets, const Ref* weights, const CeCfg& cfg) {
  const bool batched = logits.dim() == 2;
  const int64_t C = logits.shape.back();
  const int64_t N = batched ? logits.shape[0] : 1;
  std::vector<double> loss(N, 0.0);
  double denom = 0, total = 0;
  int64_t ignored = 0;
  for (int64_t n = 0; n < N; ++n) {
    int64_t t = static_cast<int64_t>(targets.v[n]);
    if (cfg.remap_last_to_ignore && t == C - 1) t = cfg.ignore_index;
    if (t == cfg.ignore_index) {
      ++ignored;
      continue;
    }
    double m = -INFINITY;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, logits.v[n * C + c]);
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(logits.v[n * C + c] - m);
    auto logp = [&](int64_t c) { return logits.v[n * C + c] - m - std::log(s); };
    auto w = [&](int64_t c) { return weights ? weights->v[c] : 1.0; };
    double smooth = 0;
    for (int64_t c = 0; c < C; ++c) smooth += w(c) * -logp(c);
    loss[n] = (1 - cfg.smoothing) * w(t) * -logp(t) + cfg.smoothing / C * smooth;
    denom += w(t);
    total += loss[n];
  }
  if (cfg.require_ignored && ignored == 0)
    throw std::runtime_error("test data has no ignored target; pick another shape");
  if (cfg.reduction == Reduction::None) return {targets.shape, loss};
  return {{}, {cfg.reduction == Reduction::Sum ? total : total / denom}};
}

void add_ce(std::vector<OpCase>& cases, const std::string& name, Shape logits_shape,
            const CeCfg& cfg, DType target_dtype = DType::I64) {
  const int64_t C = logits_shape.back();
  const Shape tshape = logits_shape.size() == 2 ? Shape{logits_shape[0]} : Shape{};
  std::vector<InputSpec> in = {F(logits_shape), I(tshape, C, target_dtype)};
  if (cfg.weighted) in.push_back(P({C}, false));
  cases.push_back({"cross_entropy", name, in,
                   [cfg, C](const std::vector<Tensor>& x) {
                     CrossEntropyOptions o;
                     o.ignore_index = cfg.ignore_index;
                     o.label_smoothing = cfg.smoothing;
                     o.reduction = cfg.reduction;
                     if (cfg.weighted) o.class_weights = x[2];
                     Tensor t = x[1];
                     if (cfg.remap_last_to_ignore) {
                       auto v = t.to_ints();
                       for (auto& k : v)
                         if (k == C - 1) k = cfg.ignore_index;
                       t = Tensor::from_ints(v, t.shape(), t.dtype());
                     }
                     return cross_entropy(x[0], t, o);
                   },
                   [cfg](const std::vector<Ref>& r) {
                     return ref_ce(r[0], r[1], cfg.weighted ? &r[2] : nullptr, cfg);
                   }});
  cases.back().check_backward = cfg.check_backward;
}

KILN_OP_CASES(loss_cases) {
  add_ce(cases, "plain", {5, 4}, {});
  {
    CeCfg c;
    c.ignore_index = 2;  // a real class id, so the drawn targets hit it
    c.require_ignored = true;
    add_ce(cases, "ignore_class_id", {8, 4}, c);
  }
  {
    CeCfg c;
    c.remap_last_to_ignore = true;  // -100 in the targets
    c.require_ignored = true;
    add_ce(cases, "ignore_minus100", {12, 3}, c);
  }
  {
    CeCfg c;
    c.smoothing = 0.1;
    add_ce(cases, "label_smoothing", {5, 4}, c);
  }
  {
    CeCfg c;
    c.weighted = true;
    add_ce(cases, "class_weights", {6, 4}, c);
  }
  {
    CeCfg c;
    c.weighted = true;
    c.smoothing = 0.2;
    c.remap_last_to_ignore = true;
    c.require_ignored = true;
    add_ce(cases, "weights_smoothing_ignore", {9, 4}, c);
  }
  for (Reduction r : {Reduction::None, Reduction::Sum}) {
    const char* rn = r == Reduction::None ? "none" : "sum";
    CeCfg c;
    c.reduction = r;
    add_ce(cases, std::string(rn), {5, 3}, c);
    c.weighted = true;
    c.smoothing = 0.3;
    c.remap_last_to_ignore = true;
    c.require_ignored = true;
    add_ce(cases, std::string(rn) + "_weights_smoothing_ignore", {8, 3}, c);
  }
  add_ce(cases, "logits_1d", {6}, {});
  {
    CeCfg c;
    c.reduction = Reduction::None;
    c.smoothing = 0.1;
    add_ce(cases, "logits_1d_none", {5}, c);
  }
  add_ce(cases, "i32_targets", {4, 5}, {}, DType::I32);
  {
    CeCfg c;
    c.reduction = Reduction::Sum;
    add_ce(cases, "n0_sum", {0, 4}, c);
    c.reduction = Reduction::Mean;
    add_ce(cases, "n0_mean_nan", {0, 4}, c);
  }
  {
    // Every target ignored: Mean is 0/0 = NaN, Sum is 0.
    CeCfg c;
    c.ignore_index = 0;
    c.require_ignored = true;
    c.check_backward = false;  // finite differences of NaN are NaN; the gradient test is below
    add_ce(cases, "all_ignored_mean_nan", {3, 1}, c);
  }
  {
    CeCfg c;
    c.smoothing = 0.1;
    add_ce(cases, "wide_classes", {3, 500}, c);
  }
}

TEST(CrossEntropy, OutOfRangeTargetNamesTargetAndClassCount) {
  Tensor logits = Tensor::zeros({3, 5});
  Tensor targets = Tensor::from_ints({1, 7, 2}, {3});
  try {
    cross_entropy(logits, targets);
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("5 classes"), std::string::npos) << msg;
  }
  EXPECT_THROW(cross_entropy(logits, Tensor::from_ints({1, -1, 2}, {3})), Error);
  EXPECT_NO_THROW(cross_entropy(logits, Tensor::from_ints({1, -100, 2}, {3})));
}

TEST(CrossEntropy, ValidatesShapesAndOptions) {
  Tensor logits = Tensor::zeros({3, 5});
  Tensor targets = Tensor::from_ints({1, 0, 2}, {3});
  EXPECT_THROW(cross_entropy(logits, Tensor::from_ints({1, 0}, {2})), Error);
  EXPECT_THROW(cross_entropy(logits, targets.to(DType::F32)), Error);
  CrossEntropyOptions o;
  o.label_smoothing = 1.5;
  EXPECT_THROW(cross_entropy(logits, targets, o), Error);
  o.label_smoothing = 0;
  o.class_weights = Tensor::ones({4});
  EXPECT_THROW(cross_entropy(logits, targets, o), Error);
}

TEST(CrossEntropy, AllIgnoredGivesNaNMeanZeroSumAndZeroGradient) {
  Tensor logits = Tensor::from_vector({0.5, -1, 2, 0.25, 3, -2}, {2, 3}, DType::F64);
  logits.set_requires_grad(true);
  Tensor targets = Tensor::from_ints({-100, -100}, {2});
  EXPECT_TRUE(std::isnan(cross_entropy(logits, targets).item()));
  CrossEntropyOptions o;
  o.reduction = Reduction::Sum;
  Tensor loss = cross_entropy(logits, targets, o);
  EXPECT_EQ(loss.item(), 0.0);
  loss.backward();
  for (double g : logits.grad().to_vector()) EXPECT_EQ(g, 0.0);
}

TEST(CrossEntropy, UniformLogitsGiveLogC) {
  Tensor logits = Tensor::zeros({4, 10});
  Tensor targets = Tensor::from_ints({1, 0, 9, 3}, {4});
  EXPECT_NEAR(cross_entropy(logits, targets).item(), std::log(10.0), 1e-6);
}

}  // namespace
}  // namespace kiln::testing
