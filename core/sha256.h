// SHA-256 (FIPS 180-4), for content fingerprints: source checkpoint files in a model's provenance
// and data files in a run manifest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string hex_digest();  // finalises; the object must not be updated afterwards

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);
// Streams the file; throws kiln::Error naming it if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace kiln
