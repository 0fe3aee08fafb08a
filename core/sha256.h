// SHA-256 (FIPS 180-4), for content fingerprints: source checkpoint files in a model's provenance
// and data files in a run manifest. Computed by OpenSSL's EVP interface, which picks the fastest
// implementation the CPU offers (SHA-NI, AVX2); a hand-written one ran at about a tenth the speed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

// OpenSSL's digest context (EVP_MD_CTX), declared here so that includers need no OpenSSL headers.
struct evp_md_ctx_st;

namespace kiln {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256& other);  // copies the running state: hash a common prefix once
  Sha256& operator=(const Sha256& other);
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string hex_digest();  // finalises; the object must not be updated afterwards

 private:
  struct FreeContext {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, FreeContext> ctx_;
  bool finalised_ = false;
};

std::string sha256_hex(std::string_view data);
// Streams the file; throws kiln::Error naming it if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace kiln
