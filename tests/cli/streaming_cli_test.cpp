// kiln tag and classify stream: with stdin a pipe that stays open, a line written in gets its
// output line back without waiting for the end of input; closing stdin ends the command with 0.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";
const std::string kExampleTagger =
    std::string(KILN_SOURCE_DIR) + "/examples/keyphrase-bert-mini.kiln";

// `kiln <args...>` with pipes on stdin and stdout (stderr is inherited, for diagnostics).
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    signal(SIGPIPE, SIG_IGN);  // a child that died must fail the test, not kill it
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]), close(in[1]), close(out[0]), close(out[1]);
      std::vector<char*> argv;
      std::string bin = KILN_BIN;
      argv.push_back(bin.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Child() {
    close_stdin();
    if (stdout_ >= 0) close(stdout_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }

  bool write_line(const std::string& line) {
    const std::string s = line + "\n";
    return write(stdin_, s.data(), s.size()) == static_cast<ssize_t>(s.size());
  }
  void close_stdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  // The next output line, or nullopt when none arrives within `timeout` (or output ended).
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{stdout_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(stdout_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  // Exit status after stdin is closed; -1 if the process did not end within `timeout`.
  int wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      usleep(20000);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  bool reaped_ = false;
  std::string buffer_;
};

// Generous for a loaded machine; what matters is that the answer comes while stdin is open.
constexpr std::chrono::seconds kAnswer{30};

void expect_answers_while_open(const std::vector<std::string>& args,
                               const std::vector<std::string>& lines, const std::string& key) {
  Child child(args);
  ASSERT_TRUE(child.started());
  for (const auto& line : lines) {
    ASSERT_TRUE(child.write_line(line));
    const auto out = child.read_line(kAnswer);
    ASSERT_TRUE(out.has_value()) << "no output for " << line << " while stdin is open";
    const auto j = nlohmann::json::parse(*out);
    EXPECT_TRUE(j.contains(key)) << *out;
  }
  child.close_stdin();
  EXPECT_FALSE(child.read_line(kAnswer).has_value());  // nothing more, then end of output
  EXPECT_EQ(child.wait_exit(kAnswer), 0);
}

TEST(StreamingCli, TagAnswersEachLineWhileStdinIsOpen) {
  if (!std::filesystem::exists(kExampleTagger)) GTEST_SKIP() << "example model not present";
  expect_answers_while_open({"tag", "-m", kExampleTagger, "--threads", "1"},
                            {R"({"text": "Wavelength services for fiber optic networks"})",
                             "Plain text about neural networks and keyphrase extraction"},
                            "spans");
}

TEST(StreamingCli, ClassifyAnswersEachLineWhileStdinIsOpen) {
  const std::string dir = kRefs + "bert-seqcls";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  auto conv = run_kiln("convert " + dir + " -o " + (tmp / "m.kiln"));
  ASSERT_EQ(conv.exit_code, 0) << conv.output;
  expect_answers_while_open({"classify", "-m", tmp / "m.kiln", "--threads", "1"},
                            {R"({"text": "a fine film"})", "dull and far too long",
                             R"({"text": "first part", "pair": "second part"})"},
                            "label");
}

}  // namespace
}  // namespace kiln::testing
