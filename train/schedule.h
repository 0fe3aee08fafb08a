// Learning-rate schedules of the Hugging Face Trainer: linear warm-up from 0, then linear or
// cosine decay to 0 at the last update; or, after the warm-up, torch's StepLR (the rate times
// gamma every step_size updates), the usual schedule of image classifiers trained with SGD. Update
// number s (0-based) uses factor(s), as transformers' get_linear_schedule_with_warmup /
// get_cosine_schedule_with_warmup do.
#pragma once

#include <cstdint>
#include <string>

namespace kiln::train {

enum class ScheduleKind { Linear, Cosine, Step };

// "linear", "cosine" or "step"; throws kiln::Error otherwise.
ScheduleKind parse_schedule(const std::string& name);

struct Schedule {
  ScheduleKind kind = ScheduleKind::Linear;
  int64_t total_steps = 1;
  int64_t warmup_steps = 0;
  int64_t step_size = 1;  // Step: updates (after the warm-up) between decays
  double gamma = 0.1;     // Step: the factor of each decay

  // Multiplier of the base learning rate for update `step`.
  double factor(int64_t step) const;
};

// Hugging Face's warmup_ratio: ceil(ratio * total).
int64_t warmup_from_ratio(double ratio, int64_t total_steps);

}  // namespace kiln::train
