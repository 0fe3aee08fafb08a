// Running the built kiln binary from tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kiln::testing {

// The whole file (empty when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

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

// Whether Open MPI's mpirun (Debian openmpi-bin) is installed; MPI tests skip without it.
inline bool have_mpirun() {
  return run_shell("command -v mpirun >/dev/null 2>&1").exit_code == 0;
}

// `mpirun -np N kiln <args>` on this machine only, after `env`: TCP over loopback (works in
// containers without InfiniBand or a large /dev/shm), no core binding (other tests share the
// cores), and leak checks off for the ranks under AddressSanitizer (Open MPI's own allocations
// outlive main). stderr is merged into the output.
inline RunResult run_mpi_kiln(int ranks, const std::string& args, const std::string& env = "") {
  std::string cmd = env + "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" mpirun -np " +
                    std::to_string(ranks) +
                    " --oversubscribe --bind-to none --mca btl self,tcp --mca btl_tcp_if_include lo"
                    " --mca oob_tcp_if_include lo";
  if (geteuid() == 0) cmd += " --allow-run-as-root";
  return run_shell(cmd + " " + std::string(KILN_BIN) + " " + args + " 2>&1");
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
