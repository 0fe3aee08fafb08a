// SHA-256: the NIST FIPS 180-4 example vectors, streaming in uneven pieces, copies of a running
// hasher, file hashing across read-buffer boundaries (digest from Python's hashlib) and the errors.
#include "core/sha256.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace kiln {
namespace {

// A scratch directory removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kiln_sha256_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name, const std::string& contents) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << contents;
    return p;
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(Sha256, NistShortMessages) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 448 bits: the padding no longer fits in the message's own block.
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // 896 bits.
  EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjk"
                       "lmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, NistMillionAsInUnevenPieces) {
  const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), expected);
  Sha256 s;
  const std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left) {
    const size_t n = std::min(left, chunk.size());
    s.update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(s.hex_digest(), expected);
}

TEST(Sha256, CopyContinuesFromTheSameState) {
  Sha256 prefix;
  prefix.update("abc");
  Sha256 copy = prefix;
  Sha256 assigned;
  assigned.update("unrelated");
  assigned = prefix;
  prefix.update("d");
  copy.update("X");
  EXPECT_EQ(prefix.hex_digest(),
            "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
  EXPECT_EQ(copy.hex_digest(), "e5047b803a9cbb62cec27da91c2e00c964519938780e024f77877c71cdd1bd14");
  EXPECT_EQ(assigned.hex_digest(), sha256_hex("abc"));
}

TEST(Sha256, UseAfterDigestIsAnError) {
  Sha256 s;
  s.update("abc");
  s.hex_digest();
  EXPECT_THROW(s.update("d"), Error);
  EXPECT_THROW(s.hex_digest(), Error);
}

TEST(Sha256, FileAcrossReadBufferBoundaries) {
  // Three 1 MiB read buffers and a 5-byte tail; the digest comes from Python's hashlib.
  std::string contents(3 * (1 << 20) + 5, '\0');
  for (size_t i = 0; i < contents.size(); ++i) contents[i] = static_cast<char>((i * 31 + 7) & 0xff);
  ScratchDir dir;
  EXPECT_EQ(sha256_file(dir.file("pattern.bin", contents)),
            "aacbf7fdf74148b96f47b5a44d8be9f8d52b59c291c5f60cfb68671b58059e56");
  EXPECT_EQ(sha256_file(dir.file("empty.bin", "")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, UnreadableFileErrorsNameIt) {
  ScratchDir dir;
  const std::string missing = dir.path() + "/no_such_file.bin";
  try {
    sha256_file(missing);
    FAIL() << "hashing a missing file did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  // A directory opens but cannot be read.
  try {
    sha256_file(dir.path());
    FAIL() << "hashing a directory did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
