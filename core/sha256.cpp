#include "core/sha256.h"

#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include "core/error.h"

namespace kiln {
namespace {

// EVP failures mean OpenSSL itself is broken (out of memory, no SHA-256 provider): say which call.
void check_evp(int ok, const char* call) {
  KILN_CHECK(ok == 1, "sha256: OpenSSL ", call, " failed");
}

}  // namespace

void Sha256::FreeContext::operator()(evp_md_ctx_st* ctx) const {
  EVP_MD_CTX_free(ctx);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  KILN_CHECK(ctx_, "sha256: OpenSSL EVP_MD_CTX_new failed");
  check_evp(EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

Sha256::~Sha256() = default;

Sha256::Sha256(const Sha256& other) : ctx_(EVP_MD_CTX_new()), finalised_(other.finalised_) {
  KILN_CHECK(ctx_, "sha256: OpenSSL EVP_MD_CTX_new failed");
  check_evp(EVP_MD_CTX_copy_ex(ctx_.get(), other.ctx_.get()), "EVP_MD_CTX_copy_ex");
}

Sha256& Sha256::operator=(const Sha256& other) {
  if (this != &other) *this = Sha256(other);  // also right when this one was moved from
  return *this;
}

Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t n) {
  KILN_CHECK(ctx_ && !finalised_, "sha256: update after hex_digest() (or on a moved-from hasher)");
  check_evp(EVP_DigestUpdate(ctx_.get(), data, n), "EVP_DigestUpdate");
}

std::string Sha256::hex_digest() {
  KILN_CHECK(ctx_ && !finalised_, "sha256: hex_digest() called twice (or on a moved-from hasher)");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  check_evp(EVP_DigestFinal_ex(ctx_.get(), digest, &len), "EVP_DigestFinal_ex");
  finalised_ = true;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 s;
  s.update(data);
  return s.hex_digest();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in, path, ": cannot open for reading");
  Sha256 s;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    s.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  KILN_CHECK(in.eof(), path, ": read error");
  return s.hex_digest();
}

}  // namespace kiln
