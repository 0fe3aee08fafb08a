#include "tools/output.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <streambuf>
#include <string>

#include "core/error.h"

namespace kiln::cli {

namespace {

int g_first_errno = 0;  // why the first failed write to standard output failed; 0: none seen

void note_failure() {
  if (g_first_errno == 0) g_first_errno = errno;
}

// Unbuffered on its own side, like libstdc++'s stdio_sync_filebuf: every character goes straight
// to stdout's buffer, so std::cout and printf output keep their order and cost the same as before.
class CheckedStdoutBuf : public std::streambuf {
 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof()))
      return sync() == 0 ? traits_type::not_eof(c) : traits_type::eof();
    if (std::fputc(traits_type::to_char_type(c), stdout) == EOF) {
      note_failure();
      return traits_type::eof();
    }
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    const size_t written = std::fwrite(s, 1, static_cast<size_t>(n), stdout);
    if (written != static_cast<size_t>(n)) note_failure();
    return static_cast<std::streamsize>(written);
  }
  int sync() override {
    if (std::fflush(stdout) == 0) return 0;
    note_failure();
    return -1;
  }
};

}  // namespace

void install_checked_stdout() {
  // Never destroyed: std::ios_base::Init's destructor flushes std::cout after function-local
  // statics are gone, so a static buffer here would be used after its destructor ran.
  static auto* const buf = new CheckedStdoutBuf;
  std::cout.rdbuf(buf);
}

void flush_stdout_or_throw() {
  std::cout.flush();
  if (std::fflush(stdout) != 0) note_failure();
  if (!std::cout || std::ferror(stdout)) {
    // Without a recorded reason (a printf whose automatic flush failed), say only that it failed.
    throw Error(g_first_errno != 0
                    ? "writing standard output: " + std::string(std::strerror(g_first_errno))
                    : std::string("writing standard output failed"));
  }
}

}  // namespace kiln::cli
