// Crash-safe file replacement for every kiln writer (models, checkpoints, metrics): the content
// goes to a temporary file in the target's directory, is fsync'ed, and is renamed over the target,
// then the directory is fsync'ed. Readers see either the old file or the complete new one, never a
// torn one. If writing fails (an exception from the callback, a full disk), the temporary file is
// removed and the previous file is left untouched. Every write, fsync, close and rename is checked,
// and errors name the path; so is the sync of the directory after the rename (a failure there is
// reported although the new file is already in place).
//
// Only regular files are replaced: a path that is a directory, a device node (/dev/null), a FIFO or
// a socket is refused with an error saying what it is. A symbolic link is written through: the
// existing regular file it finally points to is replaced (atomically, beside that file), so
// `-o link` updates what the link points to and keeps the link. A dangling link, or one pointing to
// anything but a regular file, is refused.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace kiln::io {

// Where the callback writes. Every write is complete or throws kiln::Error naming the file.
class FileSink {
 public:
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Bytes written so far.
  size_t offset() const { return offset_; }

 private:
  friend void atomic_write_file(const std::string&, const std::function<void(FileSink&)>&);
  FileSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;  // the final path, for messages
  size_t offset_ = 0;
};

// Runs `fill` on a temporary file beside `path`, then atomically replaces `path` with it. The new
// file gets mode 0666 & ~umask, like a file created with open(). Throws kiln::Error on failure.
void atomic_write_file(const std::string& path, const std::function<void(FileSink&)>& fill);
void atomic_write_file(const std::string& path, std::string_view bytes);

}  // namespace kiln::io
