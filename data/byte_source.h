// The bytes of one input (a file, or standard input), read through a file descriptor into a
// fixed-size buffer. Readers take bytes from the front as they assemble records, so memory stays
// bounded however large the input is. Reading through the descriptor (rather than an istream) is
// what lets fill_available() ask the kernel whether more input has arrived without blocking.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace kiln::data {

class ByteSource {
 public:
  // Opens `path`; "-" or empty reads standard input (not closed by the destructor).
  explicit ByteSource(const std::string& path);
  ~ByteSource();
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  // "<stdin>" or the path, for error messages.
  const std::string& name() const { return name_; }
  // Bytes read and not yet taken.
  std::string_view available() const { return {buf_.get() + begin_, end_ - begin_}; }
  void take(size_t n) { begin_ += n; }
  // True once a read has returned end of input.
  bool at_end() const { return at_end_; }

  // Reads at least one more byte, waiting for it if need be; false when the input has ended.
  bool fill();
  // Reads only what is there now (never waits); true if it read bytes or found the end.
  bool fill_available();

  // The buffer's size in bytes: fixed (kCapacity), whatever the input's size.
  size_t capacity() const { return capacity_; }
  static constexpr size_t kCapacity = 64 * 1024;

 private:
  // One read() into the free space at the back of the buffer; false at end of input.
  bool read_once();

  std::string name_;
  int fd_ = -1;
  bool owns_fd_ = false;
  bool at_end_ = false;
  size_t capacity_ = kCapacity;
  std::unique_ptr<char[]> buf_;
  size_t begin_ = 0;  // first byte not yet taken
  size_t end_ = 0;    // one past the last byte read
};

}  // namespace kiln::data
