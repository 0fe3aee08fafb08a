#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace kiln::io {

namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// The process umask, read without changing it: umask(2) can only be queried by setting it, which
// races with other threads creating files. Linux reports it in /proc/self/status since 4.7.
mode_t current_umask() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Umask:", 0) == 0)
      return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
  }
  return 022;
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Removes the temporary file unless the rename went through.
struct TempFile {
  std::string path;
  int fd = -1;
  bool committed = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!committed) ::unlink(path.c_str());
  }
};

}  // namespace

void FileSink::write(const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    // Linux writes at most ~2 GiB per call; loop for partial writes and signals.
    const ssize_t w = ::write(fd_, p, n < (size_t{1} << 30) ? n : (size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(
          detail::concat(path_, ": write failed after ", offset_, " bytes: ", errno_text()));
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset_ += static_cast<size_t>(w);
  }
}

void atomic_write_file(const std::string& path, const std::function<void(FileSink&)>& fill) {
  KILN_CHECK(!path.empty(), "atomic_write_file: empty path");
  KILN_CHECK(path.back() != '/', path, ": expected a file path, got a directory path");
  // Same directory as the target so rename() stays on one file system and is atomic. The leading
  // dot keeps half-written files out of casual directory listings.
  const std::string dir = parent_dir(path);
  const size_t base_pos = path.find_last_of('/') + 1;  // 0 when there is no slash
  std::string tmpl = path.substr(0, base_pos) + "." + path.substr(base_pos) + ".tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');

  TempFile tmp;
  tmp.fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (tmp.fd < 0)
    throw Error(
        detail::concat(path, ": cannot create a temporary file in '", dir, "': ", errno_text()));
  tmp.path = buf.data();
  // mkstemp creates 0600; give the file the permissions a plain open(O_CREAT, 0666) would.
  if (::fchmod(tmp.fd, 0666 & ~current_umask()) != 0)
    throw Error(detail::concat(tmp.path, ": cannot set permissions: ", errno_text()));

  FileSink sink(tmp.fd, path);
  fill(sink);

  if (::fsync(tmp.fd) != 0) throw Error(detail::concat(path, ": fsync failed: ", errno_text()));
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) throw Error(detail::concat(path, ": close failed: ", errno_text()));
  if (::rename(tmp.path.c_str(), path.c_str()) != 0)
    throw Error(detail::concat(path, ": cannot replace with '", tmp.path, "': ", errno_text()));
  tmp.committed = true;

  // Persist the rename itself. Failure here leaves a complete file in place, so it is not fatal
  // for correctness of what readers see; it only weakens durability across a power loss.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void atomic_write_file(const std::string& path, std::string_view bytes) {
  atomic_write_file(path, [&](FileSink& s) { s.write(bytes); });
}

}  // namespace kiln::io
