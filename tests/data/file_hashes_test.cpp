// data/file_hashes.h: md5 (RFC 1321 test suite) and sha256 of strings and files, in one read.
#include "data/file_hashes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/sha256.h"

namespace kiln::data {
namespace {

TEST(FileHashes, Md5OfKnownStrings) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(
      md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
      "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(FileHashes, FileDigestsEqualThoseOfItsBytes) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("kiln-hash-" + std::to_string(getpid()))).string();
  // Over one read buffer (1 MiB), with CRLF and NUL bytes kept as they are.
  std::string bytes;
  for (int i = 0; bytes.size() < (3u << 20) / 2; ++i) bytes += "row " + std::to_string(i) + "\r\n";
  bytes += std::string("\0\xff", 2);
  std::ofstream(path, std::ios::binary) << bytes;
  const FileHashes h = hash_file(path);
  std::filesystem::remove(path);
  EXPECT_EQ(h.md5, md5_hex(bytes));
  EXPECT_EQ(h.sha256, sha256_hex(bytes));
  EXPECT_EQ(h.size, bytes.size());
  EXPECT_THROW(hash_file(path), Error);
}

}  // namespace
}  // namespace kiln::data
