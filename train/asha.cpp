#include "train/asha.h"

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

bool AshaRungs::report(int64_t rung, double value) {
  auto& values = rungs_[rung];
  values.push_back(value);
  // Oriented so that larger is better; a non-finite value is worst.
  auto score = [&](double v) -> double {
    if (!std::isfinite(v)) return -INFINITY;
    return c_.maximize ? v : -v;
  };
  const double mine = score(value);
  size_t better = 0;
  for (double v : values) better += score(v) > mine;
  // Top ceil(n / eta): the same cut as Ray's percentile cutoff at (1 - 1/eta) with n values.
  const size_t keep =
      (values.size() + static_cast<size_t>(c_.eta) - 1) / static_cast<size_t>(c_.eta);
  return std::isfinite(value) && better < keep;
}

const std::vector<double>& AshaRungs::recorded(int64_t rung) const {
  static const std::vector<double> none;
  const auto it = rungs_.find(rung);
  return it == rungs_.end() ? none : it->second;
}

}  // namespace kiln::train
