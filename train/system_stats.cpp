#include "train/system_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

namespace kiln::train {
namespace {

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

double peak_resident_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Two decimals: finer figures are noise and only lengthen the lines.
double rounded(double v) {
  return std::round(v * 100.0) / 100.0;
}

}  // namespace

double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  long long size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0.0;
  return static_cast<double>(resident_pages) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

SystemSampler::SystemSampler() {
  restart();
}

void SystemSampler::restart() {
  wall_start_ = std::chrono::steady_clock::now();
  cpu_start_s_ = process_cpu_seconds();
}

nlohmann::json SystemSampler::sample() {
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
  const double cpu = process_cpu_seconds() - cpu_start_s_;
  nlohmann::json out = {{"rss_mb", rounded(resident_mb())},
                        {"peak_rss_mb", rounded(peak_resident_mb())},
                        {"cpu_percent", rounded(wall > 0 ? 100.0 * cpu / wall : 0.0)}};
  restart();
  return out;
}

}  // namespace kiln::train
