#include "train/asha.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace kiln::train {

void check_asha_config(const AshaConfig& c) {
  KILN_CHECK(c.min_epochs >= 1, "ASHA: the first rung (--grace-epochs) must be at least 1 epoch");
  KILN_CHECK(c.max_epochs >= c.min_epochs, "ASHA: the trials' --epochs (", c.max_epochs,
             ") is below the first rung (--grace-epochs ", c.min_epochs, ")");
  KILN_CHECK(c.eta >= 2, "ASHA: the reduction factor (--eta) must be at least 2");
}

std::vector<int64_t> asha_rungs(const AshaConfig& c) {
  check_asha_config(c);
  std::vector<int64_t> rungs;
  for (int64_t r = c.min_epochs; r < c.max_epochs; r *= c.eta) rungs.push_back(r);
  return rungs;
}

int64_t asha_next_target(const AshaConfig& c, int64_t epochs) {
  for (int64_t r : asha_rungs(c))
    if (r > epochs) return r;
  return c.max_epochs;
}

AshaRungs::AshaRungs(AshaConfig c) : c_(c) {
  check_asha_config(c_);
}

namespace {

// numpy.percentile's default ("linear") estimate of the q-th percentile of sorted values, in
// numpy's own arithmetic (virtual index (n - 1) * q / 100, then its _lerp that interpolates from
// the upper end when the fraction is >= 0.5), so that a value equal to Ray's cutoff compares the
// same here.
double numpy_linear_percentile(const std::vector<double>& sorted, double q) {
  const double index = static_cast<double>(sorted.size() - 1) * (q / 100.0);
  const double below = std::floor(index);
  const auto lo = static_cast<size_t>(below);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double t = index - below;
  const double diff = sorted[hi] - sorted[lo];
  return t >= 0.5 ? sorted[hi] - diff * (1.0 - t) : sorted[lo] + diff * t;
}

}  // namespace

bool AshaRungs::report(int64_t rung, double value) {
  auto& values = rungs_[rung];
  // Oriented so that larger is better (Ray multiplies by its metric_op the same way).
  auto score = [&](double v) { return c_.maximize ? v : -v; };
  // Ray's _Bracket.on_result: the cutoff is the (1 - 1/eta) percentile of the values recorded at
  // the rung BEFORE this one (the first trial to arrive always continues); a trial below it stops.
  // Unlike Ray, a non-finite value (a diverged trial) always stops and never moves the cutoff
  // (Ray's nanpercentile skips NaN but not infinities, and lets a NaN trial continue).
  std::vector<double> before;
  for (double v : values)
    if (std::isfinite(v)) before.push_back(score(v));
  values.push_back(value);
  if (!std::isfinite(value)) return false;
  if (before.empty()) return true;
  std::sort(before.begin(), before.end());
  const double q = (1.0 - 1.0 / static_cast<double>(c_.eta)) * 100.0;
  return !(score(value) < numpy_linear_percentile(before, q));
}

const std::vector<double>& AshaRungs::recorded(int64_t rung) const {
  static const std::vector<double> none;
  const auto it = rungs_.find(rung);
  return it == rungs_.end() ? none : it->second;
}

}  // namespace kiln::train
