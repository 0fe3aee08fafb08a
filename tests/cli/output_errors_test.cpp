// Output that cannot be written is an error: a command writing to a full device or a closed
// standard output exits non-zero with "writing standard output: <reason>", and the streaming
// commands stop at the first failed write instead of running through their whole input. `-o` only
// ever replaces a regular file (or, through a symbolic link, the regular file it points to).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kExample = std::string(KILN_SOURCE_DIR) + "/examples/keyphrase-bert-mini.kiln";
const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";
const std::string kFull = std::string(" No space left on device");

// A character device like /dev/null (1:3). As root, a copy in `tmp` is used, so that a regression
// replaces the copy rather than the machine's /dev/null; others cannot replace /dev/null anyway.
std::string null_device(const TempDir& tmp) {
  if (geteuid() != 0) return "/dev/null";
  const std::string node = tmp / "null";
  if (mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) return "";
  return node;
}

// kiln with stdout on /dev/full and stderr captured.
RunResult run_to_full(const std::string& args) {
  return run_shell(std::string(KILN_BIN) + " " + args + " 2>&1 >/dev/full");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(OutputErrors, HelpAndVersionOnAFullDeviceFail) {
  for (const std::string args : {"--help", "--version"}) {
    const RunResult r = run_to_full(args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_NE(r.output.find("kiln: error: writing standard output:" + kFull), std::string::npos)
        << args << ": " << r.output;
  }
  const RunResult r = run_to_full("tag --help");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("kiln tag: error: writing standard output:" + kFull), std::string::npos)
      << r.output;
  // Without a full device the same commands still succeed.
  EXPECT_EQ(run_kiln("--version").exit_code, 0);
}

TEST(OutputErrors, InspectOnAFullDeviceOrAClosedStdoutFails) {
  RunResult r = run_to_full("inspect --json " + kExample);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("kiln inspect: error: writing standard output:" + kFull),
            std::string::npos)
      << r.output;
  r = run_shell(std::string(KILN_BIN) + " inspect " + kExample + " 2>&1 >&-");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("kiln inspect: error: writing standard output: Bad file descriptor"),
            std::string::npos)
      << r.output;
}

TEST(OutputErrors, TagOfAFileOnAFullDeviceFails) {
  const RunResult r = run_to_full("tag -m " + kExample + " --threads 1 -i " + KILN_SOURCE_DIR +
                                  "/examples/inspec-abstracts.jsonl");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("kiln tag: error: writing standard output:" + kFull), std::string::npos)
      << r.output;
}

// `kiln <args>` with stdin a pipe kept open and stdout on /dev/full: a streaming command must fail
// at its first flush, while more input could still come, rather than wait for the end of input.
void expect_fails_while_input_open(const std::vector<std::string>& args, const std::string& line,
                                   const std::string& command) {
  signal(SIGPIPE, SIG_IGN);
  int in[2], err[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(err), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int full = open("/dev/full", O_WRONLY);
    dup2(in[0], 0);
    dup2(full, 1);
    dup2(err[1], 2);
    close(in[0]), close(in[1]), close(err[0]), close(err[1]);
    std::vector<std::string> copy = args;
    std::string bin = KILN_BIN;
    std::vector<char*> argv{bin.data()};
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(in[0]);
  close(err[1]);
  const std::string text = line + "\n";
  EXPECT_EQ(write(in[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  // Generous for a loaded machine; the point is that it ends while stdin is still open.
  int status = 0;
  bool ended = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      ended = true;
    else
      usleep(20000);
  }
  close(in[1]);
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  std::string stderr_text;
  char buf[4096];
  ssize_t n;
  while ((n = read(err[0], buf, sizeof buf)) > 0) stderr_text.append(buf, static_cast<size_t>(n));
  close(err[0]);
  EXPECT_TRUE(ended) << command << " kept waiting for input after a failed write";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << stderr_text;
  EXPECT_NE(stderr_text.find("kiln " + command + ": error: writing standard output:" + kFull),
            std::string::npos)
      << stderr_text;
}

TEST(OutputErrors, TagStopsAtTheFirstFailedWrite) {
  expect_fails_while_input_open({"tag", "-m", kExample, "--threads", "1"},
                                R"({"text": "Wavelength services for fiber optic networks"})",
                                "tag");
}

TEST(OutputErrors, ClassifyStopsAtTheFirstFailedWrite) {
  const std::string dir = kRefs + "bert-seqcls";
  if (!fs::exists(dir)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const RunResult conv = run_kiln("convert " + dir + " -o " + (tmp / "m.kiln"));
  ASSERT_EQ(conv.exit_code, 0) << conv.output;
  expect_fails_while_input_open({"classify", "-m", tmp / "m.kiln", "--threads", "1"},
                                R"({"text": "a fine film"})", "classify");
}

TEST(OutputErrors, TokenizeStopsAtTheFirstFailedWrite) {
  const std::string tokenizer = std::string(KILN_SHARED_DIR) + "/tokenizers/bert-base-cased";
  if (!fs::exists(tokenizer)) GTEST_SKIP() << "tokenizer not present";
  TempDir tmp;
  // Had it read on past the failed write, the bad last line would be the error reported.
  {
    std::ofstream in(tmp / "in.jsonl");
    for (int i = 0; i < 300; ++i)
      in << R"({"text": "hello world"})"
         << "\n";
    in << "not json\n";
  }
  const RunResult r =
      run_to_full("tokenize -t " + tokenizer + " --batch-size 1 -i " + (tmp / "in.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("kiln tokenize: error: writing standard output:" + kFull),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("input line 301"), std::string::npos) << r.output;
}

// ---- -o PATH: only regular files are replaced ----

// `kiln convert EXAMPLE -o <target> --dtype bf16` (re-storing a kiln model file needs no fixture).
RunResult convert_to(const std::string& target) {
  return run_kiln("convert " + kExample + " --dtype bf16 -o '" + target + "'");
}

TEST(OutputErrors, ConvertRefusesADirectoryADeviceAndAFifo) {
  TempDir tmp;
  fs::create_directory(tmp / "dir");
  RunResult r = convert_to(tmp / "dir");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(tmp / "dir" + " is a directory, not a regular file"), std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::is_directory(tmp / "dir"));
  EXPECT_TRUE(fs::is_empty(tmp / "dir"));

  const std::string device = null_device(tmp);
  if (!device.empty()) {
    struct stat before {};
    ASSERT_EQ(stat(device.c_str(), &before), 0);
    r = convert_to(device);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find(device + " is a character device, not a regular file"),
              std::string::npos)
        << r.output;
    struct stat after {};
    ASSERT_EQ(lstat(device.c_str(), &after), 0);
    EXPECT_TRUE(S_ISCHR(after.st_mode));
    EXPECT_EQ(after.st_ino, before.st_ino);
  }

  ASSERT_EQ(mkfifo((tmp / "fifo").c_str(), 0644), 0);
  r = convert_to(tmp / "fifo");  // must neither hang opening it nor replace it
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(tmp / "fifo" + " is a FIFO (named pipe), not a regular file"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::is_fifo(tmp / "fifo"));
}

TEST(OutputErrors, ConvertWritesThroughASymlinkAndRefusesADanglingOne) {
  TempDir tmp;
  fs::create_directory(tmp / "models");
  { std::ofstream(tmp / "models/m.kiln") << "old"; }
  fs::create_symlink("models/m.kiln", tmp / "link.kiln");
  RunResult r = convert_to(tmp / "link.kiln");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::is_symlink(tmp / "link.kiln"));
  EXPECT_EQ(fs::read_symlink(tmp / "link.kiln"), "models/m.kiln");
  EXPECT_GT(fs::file_size(tmp / "models/m.kiln"), 1000u);  // the converted model, not "old"
  EXPECT_EQ(run_kiln("inspect " + (tmp / "link.kiln")).exit_code, 0);

  fs::create_symlink("nowhere.kiln", tmp / "dangling.kiln");
  r = convert_to(tmp / "dangling.kiln");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(tmp / "dangling.kiln" +
                          " is a symbolic link to 'nowhere.kiln', which does not exist"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(tmp / "nowhere.kiln"));
}

TEST(OutputErrors, ConvertOntoAFullOrImpossiblePlaceFailsAndKeepsTheOldFile) {
  TempDir tmp;
  { std::ofstream(tmp / "m.kiln") << "old"; }
  // A file size limit fails the write part way, as a full disk would (also for root). The shell
  // ignores SIGXFSZ so that kiln, inheriting that, sees the error instead of being killed.
  const RunResult r = run_shell("trap '' XFSZ; ulimit -f 64; " + std::string(KILN_BIN) +
                                " convert " + kExample + " -o " + (tmp / "m.kiln") + " 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(tmp / "m.kiln" + ": write failed after"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(tmp / "m.kiln"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);

  const RunResult below = convert_to(tmp / "m.kiln" + "/x.kiln");
  EXPECT_EQ(below.exit_code, 1);
  EXPECT_NE(below.output.find(tmp / "m.kiln" + "/x.kiln: cannot create a temporary file"),
            std::string::npos)
      << below.output;
}

TEST(OutputErrors, ForwardRefusesADeviceAsItsOutput) {
  TempDir tmp;
  const std::string device = null_device(tmp);
  if (device.empty()) GTEST_SKIP() << "cannot make a device node";
  nn::save_safetensors(tmp / "in.safetensors",
                       {{"input_ids", Tensor::from_ints({2, 3, 4, 5}, {1, 4})}});
  const RunResult r = run_kiln("forward -m " + kExample + " -i " + (tmp / "in.safetensors") +
                               " -o " + device + " --threads 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(device + " is a character device, not a regular file"), std::string::npos)
      << r.output;
  struct stat st {};
  ASSERT_EQ(lstat(device.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

}  // namespace
}  // namespace kiln::testing
