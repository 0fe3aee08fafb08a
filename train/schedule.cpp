#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace kiln::train {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "linear") return ScheduleKind::Linear;
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "step") return ScheduleKind::Step;
  throw Error("unknown learning-rate schedule '" + name + "' (expected linear, cosine or step)");
}

double Schedule::factor(int64_t step) const {
  if (step < warmup_steps)
    return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  if (kind == ScheduleKind::Step)
    return std::pow(gamma,
                    static_cast<double>((step - warmup_steps) / std::max<int64_t>(1, step_size)));
  const double progress = static_cast<double>(step - warmup_steps) /
                          static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  if (kind == ScheduleKind::Linear) return std::max(0.0, 1.0 - progress);
  return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
}

int64_t warmup_from_ratio(double ratio, int64_t total_steps) {
  KILN_CHECK(ratio >= 0 && ratio <= 1, "--warmup-ratio must be in [0, 1], got ", ratio);
  return static_cast<int64_t>(std::ceil(ratio * static_cast<double>(total_steps)));
}

}  // namespace kiln::train
