// Asynchronous successive halving (ASHA, Li et al. 2020; Ray Tune's AsyncHyperBandScheduler with
// one bracket) over epochs. Rungs sit at min_epochs * eta^k below max_epochs. A trial that reaches
// a rung reports its eval metric there; it continues to the next rung only if it is not below the
// (1 - 1/eta) percentile of the values that earlier trials reported at that rung (Ray's cutoff,
// numpy's linear interpolation; the first trial to arrive always continues), else it stops there.
// `kiln sweep` reports the trials to a rung in id order (train/sweep_runner.h), so that its
// decisions do not depend on which trial finished first.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace kiln::train {

struct AshaConfig {
  int64_t min_epochs = 1;  // the first rung (Ray's grace_period)
  int64_t max_epochs = 1;  // a trial's full budget (its --epochs; Ray's max_t)
  int64_t eta = 3;         // reduction factor
  bool maximize = true;    // mode max (accuracy, f1) or min (loss)
};

// Throws kiln::Error for min_epochs < 1, max_epochs < min_epochs or eta < 2.
void check_asha_config(const AshaConfig& c);

// The rung epochs below max_epochs: min_epochs, min_epochs * eta, ... (empty when min >= max).
std::vector<int64_t> asha_rungs(const AshaConfig& c);

// The epoch a trial that has done `epochs` trains to next: the next rung, or max_epochs.
int64_t asha_next_target(const AshaConfig& c, int64_t epochs);

class AshaRungs {
 public:
  explicit AshaRungs(AshaConfig c);
  // Records `value` for a trial reaching rung epoch `rung` and says whether it continues. A value
  // that is not finite (a diverged trial) stops and takes no part in later cutoffs.
  bool report(int64_t rung, double value);
  // The values recorded at a rung so far, in arrival order (to rebuild after a restart, report
  // them again in the same order).
  const std::vector<double>& recorded(int64_t rung) const;
  const AshaConfig& config() const { return c_; }

 private:
  AshaConfig c_;
  std::map<int64_t, std::vector<double>> rungs_;
};

}  // namespace kiln::train
