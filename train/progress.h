// Training progress on stderr: a redrawn bar with ETA when stderr is a terminal, otherwise one
// plain line every `every` updates (logs and CI output stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kiln::train {

class Progress {
 public:
  Progress(bool terminal, int64_t every, std::FILE* out = stderr);
  // `done` of `total` updates finished; `loss` is the latest update's loss.
  void update(int64_t done, int64_t total, double loss);
  void message(const std::string& line);  // a line of its own (ends the bar's line first)
  void finish();

  // "1:02:03" / "02:03"; exposed for tests.
  static std::string format_duration(double seconds);

 private:
  bool terminal_;
  int64_t every_;
  std::FILE* out_;
  bool bar_open_ = false;
  int64_t first_done_ = -1;  // updates already done when this session started (resume)
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace kiln::train
