#include "train/progress.h"

#include <algorithm>

namespace kiln::train {

Progress::Progress(bool terminal, int64_t every, std::FILE* out)
    : terminal_(terminal), every_(std::max<int64_t>(1, every)), out_(out) {}

std::string Progress::format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

void Progress::update(int64_t done, int64_t total, double loss) {
  if (first_done_ < 0) {
    first_done_ = done - 1;  // the rate counts this session's updates only
    start_ = std::chrono::steady_clock::now();
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = static_cast<double>(done - first_done_) / std::max(elapsed, 1e-9);
  const std::string eta = format_duration(static_cast<double>(total - done) / rate);
  if (terminal_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(1, total));
    std::string bar(filled, '=');
    bar.resize(kWidth, ' ');
    std::fprintf(out_, "\r[%s] %lld/%lld loss %.4f ETA %s ", bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total), loss, eta.c_str());
    bar_open_ = true;
  } else if (done % every_ == 0 || done == total) {
    std::fprintf(out_, "step %lld/%lld loss %.4f elapsed %s ETA %s\n", static_cast<long long>(done),
                 static_cast<long long>(total), loss, format_duration(elapsed).c_str(),
                 eta.c_str());
  }
  std::fflush(out_);
}

void Progress::message(const std::string& line) {
  if (bar_open_) std::fputc('\n', out_);
  bar_open_ = false;
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void Progress::finish() {
  if (bar_open_) std::fputc('\n', out_);
  bar_open_ = false;
  std::fflush(out_);
}

}  // namespace kiln::train
