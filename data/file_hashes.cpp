#include "data/file_hashes.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/sha256.h"

namespace kiln::data {
namespace {

// MD5 through OpenSSL's EVP interface, as core/sha256 does SHA-256.
class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new()) {
    KILN_CHECK(ctx_, "md5: OpenSSL EVP_MD_CTX_new failed");
    KILN_CHECK(EVP_DigestInit_ex(ctx_.get(), EVP_md5(), nullptr) == 1,
               "md5: OpenSSL has no MD5 (EVP_DigestInit_ex failed)");
  }
  void update(const void* data, size_t n) {
    KILN_CHECK(EVP_DigestUpdate(ctx_.get(), data, n) == 1, "md5: OpenSSL EVP_DigestUpdate failed");
  }
  std::string hex_digest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    KILN_CHECK(EVP_DigestFinal_ex(ctx_.get(), digest, &len) == 1,
               "md5: OpenSSL EVP_DigestFinal_ex failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += kHex[digest[i] >> 4];
      out += kHex[digest[i] & 15];
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

}  // namespace

std::string md5_hex(std::string_view bytes) {
  Md5 m;
  m.update(bytes.data(), bytes.size());
  return m.hex_digest();
}

FileHashes hash_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in, path, ": cannot open for reading");
  Md5 md5;
  Sha256 sha256;
  FileHashes out;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    md5.update(buf.data(), n);
    sha256.update(buf.data(), n);
    out.size += n;
  }
  KILN_CHECK(in.eof(), path, ": read error");
  out.md5 = md5.hex_digest();
  out.sha256 = sha256.hex_digest();
  return out;
}

}  // namespace kiln::data
