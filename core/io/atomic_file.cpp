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

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// The file that writing `path` replaces: `path` itself when it is a regular file or does not exist
// yet (or cannot be looked at: creating the temporary file then reports why). For a symbolic link,
// the existing regular file it finally points to, so the link stays and points at the new content;
// a dangling link is refused rather than guessed at. Anything else is refused too: rename() would
// replace a device node (for root, /dev/null itself), a FIFO or a socket, and fail obscurely on a
// directory.
std::string replaceable_target(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return path;
  if (!S_ISLNK(st.st_mode))
    throw Error(detail::concat(path, " is ", file_kind(st.st_mode),
                               ", not a regular file: kiln only writes regular files"));
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved) {
    const int err = errno;
    std::vector<char> link(4096, '\0');
    const ssize_t n = ::readlink(path.c_str(), link.data(), link.size() - 1);
    const std::string to = n > 0 ? std::string(link.data(), static_cast<size_t>(n)) : "?";
    if (err == ENOENT)
      throw Error(detail::concat(path, " is a symbolic link to '", to,
                                 "', which does not exist: kiln writes through a link only to an "
                                 "existing regular file"));
    throw Error(detail::concat(path, ": cannot resolve the symbolic link to '", to,
                               "': ", std::strerror(err)));
  }
  const std::string target = resolved;
  std::free(resolved);
  if (::stat(target.c_str(), &st) != 0)
    throw Error(detail::concat(path, ": cannot stat '", target, "': ", errno_text()));
  if (!S_ISREG(st.st_mode))
    throw Error(detail::concat(path, " is a symbolic link to '", target, "', which is ",
                               file_kind(st.st_mode),
                               ", not a regular file: kiln only writes regular files"));
  return target;
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
  // Checked before writing, so a large write is not wasted, and again just before the rename.
  const std::string target = replaceable_target(path);
  // Messages name the path as given, and for a symbolic link also the file it points to.
  const std::string shown = target == path ? path : path + " (-> " + target + ")";
  // Same directory as the target so rename() stays on one file system and is atomic. The leading
  // dot keeps half-written files out of casual directory listings.
  const std::string dir = parent_dir(target);
  const size_t base_pos = target.find_last_of('/') + 1;  // 0 when there is no slash
  std::string tmpl = target.substr(0, base_pos) + "." + target.substr(base_pos) + ".tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');

  TempFile tmp;
  tmp.fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (tmp.fd < 0)
    throw Error(
        detail::concat(shown, ": cannot create a temporary file in '", dir, "': ", errno_text()));
  tmp.path = buf.data();
  // mkstemp creates 0600; give the file the permissions a plain open(O_CREAT, 0666) would.
  if (::fchmod(tmp.fd, 0666 & ~current_umask()) != 0)
    throw Error(detail::concat(tmp.path, ": cannot set permissions: ", errno_text()));

  FileSink sink(tmp.fd, shown);
  fill(sink);

  if (::fsync(tmp.fd) != 0) throw Error(detail::concat(shown, ": fsync failed: ", errno_text()));
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) throw Error(detail::concat(shown, ": close failed: ", errno_text()));
  // Narrows the window in which something other than a regular file could appear at the target.
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw Error(detail::concat(shown, " is now ", file_kind(st.st_mode),
                               ", not a regular file: kiln only writes regular files"));
  if (::rename(tmp.path.c_str(), target.c_str()) != 0)
    throw Error(detail::concat(shown, ": cannot replace with '", tmp.path, "': ", errno_text()));
  tmp.committed = true;

  // Persist the rename itself. The new file is in place by now, but without this a power loss
  // could still bring back the old one, so a failure is reported. A file system that cannot sync
  // directories (EINVAL) or a directory this user may not open for reading is let through.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    if (errno != EACCES)
      throw Error(detail::concat(shown, ": written, but cannot open its directory '", dir,
                                 "' to sync it: ", errno_text()));
    return;
  }
  const int synced = ::fsync(dfd);
  const int sync_errno = errno;
  ::close(dfd);
  if (synced != 0 && sync_errno != EINVAL)
    throw Error(detail::concat(shown, ": written, but syncing its directory '", dir,
                               "' failed: ", std::strerror(sync_errno)));
}

void atomic_write_file(const std::string& path, std::string_view bytes) {
  atomic_write_file(path, [&](FileSink& s) { s.write(bytes); });
}

}  // namespace kiln::io
