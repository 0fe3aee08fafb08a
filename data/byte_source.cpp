#include "data/byte_source.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace kiln::data {

ByteSource::ByteSource(const std::string& path) : buf_(new char[capacity_]) {
  if (path.empty() || path == "-") {
    fd_ = STDIN_FILENO;
    name_ = "<stdin>";
    return;
  }
  name_ = path;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KILN_CHECK(fd_ >= 0, path, ": cannot open input file (", std::strerror(errno), ")");
  owns_fd_ = true;
}

ByteSource::~ByteSource() {
  if (owns_fd_) ::close(fd_);
}

bool ByteSource::read_once() {
  // Move unread bytes to the front so the free space is at the back. Readers take everything up
  // to a record's end before asking for more, so this copies at most one partial record's tail.
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (end_ == capacity_) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  KILN_CHECK(end_ < capacity_, name_, ": internal error: read with a full buffer");
  for (;;) {
    ssize_t n = ::read(fd_, buf_.get() + end_, capacity_ - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) {
      at_end_ = true;
      return false;
    }
    KILN_CHECK(errno == EINTR, name_, ": read failed (", std::strerror(errno), ")");
  }
}

bool ByteSource::fill() {
  if (at_end_) return false;
  return read_once();
}

bool ByteSource::fill_available() {
  if (at_end_) return true;
  pollfd p{fd_, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  KILN_CHECK(r >= 0, name_, ": poll failed (", std::strerror(errno), ")");
  // POLLHUP without POLLIN is a closed pipe: read() returns the end at once, so it is "there now"
  // too. POLLERR/POLLNVAL make read() report the error.
  if (r == 0) return false;
  read_once();
  return true;
}

}  // namespace kiln::data
