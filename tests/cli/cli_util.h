// Running the built kiln binary from tests.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace kiln::testing {

struct RunResult {
  int exit_code;
  std::string output;  // stdout (and stderr when merged)
};

// Runs `script` with `sh -c` and returns its exit code and what it wrote to the pipe (stdout,
// plus whatever the script redirects there).
inline RunResult run_shell(const std::string& script) {
  FILE* p = popen(script.c_str(), "r");
  RunResult r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Runs `kiln <args>` through the shell, after `env` (e.g. "KILN_NUM_THREADS=3 "); stderr is merged
// into output unless merge_stderr=false.
inline RunResult run_kiln(const std::string& args, bool merge_stderr = true,
                          const std::string& env = "") {
  return run_shell(env + std::string(KILN_BIN) + " " + args +
                   (merge_stderr ? " 2>&1" : " 2>/dev/null"));
}

// A fresh temporary directory, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kiln-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace kiln::testing
