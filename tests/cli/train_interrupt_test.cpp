// `kiln train` as a process that gets stopped: Ctrl-C (SIGINT) and SIGTERM write a checkpoint at
// the next update boundary and exit 130 / 143, and --resume then ends with the bits of a run that
// was never stopped; while one process trains a run directory, a second --resume or a fresh run
// into it is refused by the run's lock, which dies with its holder (even by kill -9).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

extern char** environ;

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShared = KILN_SHARED_DIR;
const std::string kTokenizer = kShared + "/tokenizers/bert-base-cased";
const std::string kInspec = kShared + "/data/inspec/";

bool have_data() {
  return fs::exists(kTokenizer) && fs::exists(kInspec + "inspec_train.jsonl");
}

std::string first_lines(const std::string& src, size_t n, const TempDir& dir,
                        const std::string& name) {
  std::ifstream in(src);
  std::ofstream out(dir / name);
  std::string line;
  for (size_t i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
  return dir / name;
}

std::string read_file(const std::string& path) {
  std::stringstream ss;
  ss << std::ifstream(path).rdbuf();
  return ss.str();
}

// A tiny tagger (hidden 16, one layer): about 10 ms an update, so a long run takes seconds.
std::vector<std::string> train_args(const TempDir& tmp, const std::string& run, int epochs) {
  std::ofstream(tmp / "config.json")
      << R"({"model_type": "bert", "vocab_size": 28996, "hidden_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 128})";
  const std::string train = tmp / "train.jsonl", eval = tmp / "eval.jsonl";
  if (!fs::exists(train)) first_lines(kInspec + "inspec_train.jsonl", 24, tmp, "train.jsonl");
  if (!fs::exists(eval)) first_lines(kInspec + "inspec_validation.jsonl", 6, tmp, "eval.jsonl");
  return {"train",
          "--task",
          "token-classification",
          "--train",
          train,
          "--eval",
          eval,
          "--output",
          run,
          "--config",
          tmp / "config.json",
          "--tokenizer",
          kTokenizer,
          "--max-length",
          "48",
          "--learning-rate",
          "1e-3",
          "--threads",
          "1",
          "--seed",
          "3",
          "--per-device-batch-size",
          "4",
          "--logging-steps",
          "1",
          "--epochs",
          std::to_string(epochs)};
}

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += " " + a;
  return s;
}

// `kiln ARGS` as a child process with stdout and stderr in `log`.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> all = {KILN_BIN};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    // The child must start with default signal actions whatever this test runner ignores.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    spawned_ = posix_spawn(&pid_, KILN_BIN, &actions, &attr, argv.data(), environ) == 0;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  ~Child() {
    if (spawned_ && !reaped_) {
      kill(pid_, SIGKILL);
      wait();
    }
  }
  bool spawned() const { return spawned_; }
  pid_t pid() const { return pid_; }
  bool running() {
    if (reaped_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      status_ = status;
      return false;
    }
    return true;
  }
  // The exit code; 128 + N when killed by signal N.
  int wait() {
    if (!reaped_) {
      waitpid(pid_, &status_, 0);
      reaped_ = true;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }

 private:
  pid_t pid_ = -1;
  bool spawned_ = false, reaped_ = false;
  int status_ = 0;
};

// Waits (up to two minutes) until `path` is a non-empty file; false if the child ended first.
bool wait_for_file(Child& child, const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (fs::file_size(path, ec) > 0 && !ec) return true;
    if (!child.running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// Until the run has logged an update: training is under way and the lock is held.
bool wait_for_first_update(Child& child, const std::string& run) {
  return wait_for_file(child, run + "/metrics.jsonl");
}

void expect_same_checkpoints(const std::string& a_run, const std::string& b_run) {
  std::map<std::string, std::string> meta_a, meta_b;
  const auto a = nn::load_safetensors(a_run + "/checkpoint/checkpoint.safetensors", &meta_a);
  const auto b = nn::load_safetensors(b_run + "/checkpoint/checkpoint.safetensors", &meta_b);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const Tensor u = b.at(name).contiguous(), v = t.contiguous();
    ASSERT_EQ(v.nbytes(), u.nbytes()) << name;
    EXPECT_EQ(std::memcmp(v.raw_data(), u.raw_data(), v.nbytes()), 0) << name << " differs";
  }
  EXPECT_EQ(meta_a["kiln.train_state"], meta_b["kiln.train_state"]);
  EXPECT_EQ(meta_a[nn::kDataSha256Key], meta_b[nn::kDataSha256Key]);
}

TEST(TrainInterrupt, CtrlCWritesACheckpointExits130AndResumesBitExactly) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  constexpr int kEpochs = 20;  // 120 updates: a second or more, so the signal lands mid-run
  auto straight = run_kiln(joined(train_args(tmp, tmp / "a", kEpochs)));
  ASSERT_EQ(straight.exit_code, 0) << straight.output;

  const std::string run = tmp / "b", log = tmp / "b.log";
  Child child(train_args(tmp, run, kEpochs), log);
  ASSERT_TRUE(child.spawned());
  ASSERT_TRUE(wait_for_first_update(child, run)) << read_file(log);
  ASSERT_EQ(kill(child.pid(), SIGINT), 0);
  EXPECT_EQ(child.wait(), 130) << read_file(log);
  const std::string out = read_file(log);
  EXPECT_NE(out.find("stopping after the current update to write a checkpoint"), std::string::npos)
      << out;
  EXPECT_NE(out.find("stopped by SIGINT (Ctrl-C) after update"), std::string::npos) << out;
  EXPECT_NE(out.find("continue with: kiln train --resume " + run), std::string::npos) << out;
  std::map<std::string, std::string> meta;
  nn::load_safetensors(run + "/checkpoint/checkpoint.safetensors", &meta);
  const auto state = nlohmann::json::parse(meta["kiln.train_state"]);
  EXPECT_FALSE(state["finished"].get<bool>()) << "the signal came too late to test anything";
  EXPECT_GE(state["global_step"].get<int64_t>(), 1);
  EXPECT_FALSE(fs::exists(run + "/FAILED"));

  auto resumed = run_kiln("train --resume " + run);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_same_checkpoints(tmp / "a", run);
}

TEST(TrainInterrupt, ARunningRunIsLockedAndSigtermExits143) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const std::string run = tmp / "r", log = tmp / "r.log";
  Child child(train_args(tmp, run, 400), log);
  ASSERT_TRUE(child.spawned());
  ASSERT_TRUE(wait_for_first_update(child, run)) << read_file(log);
  const std::string pid = "PID " + std::to_string(child.pid());

  auto again = run_kiln("train --resume " + run);
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find(run + " is being trained by another kiln train (" + pid),
            std::string::npos)
      << again.output;
  auto fresh = run_kiln(joined(train_args(tmp, run, 1)));
  EXPECT_EQ(fresh.exit_code, 1) << fresh.output;
  EXPECT_NE(fresh.output.find(run + " is being trained by another kiln train (" + pid),
            std::string::npos)
      << fresh.output;
  ASSERT_TRUE(child.running()) << "the run ended before the lock could be tested";

  ASSERT_EQ(kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.wait(), 143) << read_file(log);
  EXPECT_NE(read_file(log).find("stopped by SIGTERM after update"), std::string::npos)
      << read_file(log);
  // The lock went with its holder.
  auto resumed = run_kiln("train --resume " + run + " --stop-after-steps 1");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
}

TEST(TrainInterrupt, TheLockDiesWithAKilledHolder) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const std::string run = tmp / "k", log = tmp / "k.log";
  auto args = train_args(tmp, run, 400);
  args.insert(args.end(), {"--save-steps", "1"});  // a checkpoint after every update
  Child child(args, log);
  ASSERT_TRUE(child.spawned());
  ASSERT_TRUE(wait_for_file(child, run + "/checkpoint/checkpoint.safetensors")) << read_file(log);
  ASSERT_EQ(kill(child.pid(), SIGKILL), 0);
  EXPECT_EQ(child.wait(), 128 + SIGKILL);
  auto resumed = run_kiln("train --resume " + run + " --stop-after-steps 1");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
}

}  // namespace
}  // namespace kiln::testing
