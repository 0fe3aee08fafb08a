#include "core/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace kiln::io {

namespace {
// Closes the descriptor on every path out of open(); the mapping outlives it.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0)
    throw Error(detail::concat(path, ": cannot open for reading: ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0)
    throw Error(detail::concat(path, ": cannot stat: ", std::strerror(errno)));
  KILN_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
  KILN_CHECK(st.st_size > 0, path, ": file is empty (expected a safetensors file: 8-byte header ",
             "length, JSON header, tensor data)");
  const auto size = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (p == MAP_FAILED)
    throw Error(detail::concat(path, ": cannot map ", size, " bytes: ", std::strerror(errno)));
  return std::shared_ptr<const MappedFile>(
      new MappedFile(path, static_cast<const uint8_t*>(p), size));
}

MappedFile::~MappedFile() {
  ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace kiln::io
