#include "train/trial_launcher.h"

#include <signal.h>

#include <set>

#include "core/error.h"
#include "train/trial_process.h"

namespace kiln::train {
namespace {

class LocalLauncher : public TrialLauncher {
 public:
  explicit LocalLauncher(int64_t parallel) : parallel_(parallel) {
    KILN_CHECK(parallel >= 1, "a sweep needs at least one trial at a time, got ", parallel);
  }

  int64_t slots() const override { return parallel_; }

  int64_t start(const std::vector<std::string>& argv, const std::string& log_path) override {
    const pid_t pid = spawn_process(argv, log_path);
    running_.insert(pid);
    return pid;
  }

  std::optional<SessionEnd> poll() override {
    // waitpid(-1) may also reap a child that is not a session (none is expected): skip it.
    while (const auto exit = poll_children()) {
      if (running_.erase(exit->pid)) return SessionEnd{exit->pid, exit->status};
    }
    return std::nullopt;
  }

  void stop_all() override {
    for (const pid_t pid : running_) ::kill(pid, SIGTERM);
    for (const pid_t pid : running_) wait_child(pid);
    running_.clear();
  }

  std::string where(int64_t) const override { return ""; }

 private:
  int64_t parallel_;
  std::set<pid_t> running_;
};

}  // namespace

std::unique_ptr<TrialLauncher> make_local_launcher(int64_t parallel) {
  return std::make_unique<LocalLauncher>(parallel);
}

}  // namespace kiln::train
