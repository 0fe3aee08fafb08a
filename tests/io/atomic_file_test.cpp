#include "core/io/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/error.h"
#include "tests/io/io_test_util.h"

namespace kiln::io {
namespace {

using test::TempDir;

TEST(AtomicWriteFile, CreatesAndReplaces) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  atomic_write_file(path, std::string_view("first"));
  EXPECT_EQ(test::read_file(path), "first");
  atomic_write_file(path, [](FileSink& s) {
    s.write("sec");
    EXPECT_EQ(s.offset(), 3u);
    s.write("ond", 3);
  });
  EXPECT_EQ(test::read_file(path), "second");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.bin"});
}

TEST(AtomicWriteFile, FailureMidwayKeepsThePreviousFileAndLeavesNoTemp) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  atomic_write_file(path, std::string_view("old content"));
  struct Boom {};
  EXPECT_THROW(atomic_write_file(path,
                                 [](FileSink& s) {
                                   s.write(std::string(1 << 20, 'x'));  // well under way...
                                   throw Boom{};                        // ...then fails
                                 }),
               Boom);
  EXPECT_EQ(test::read_file(path), "old content");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"model.safetensors"});

  // Also when there was no previous file: nothing at all is left.
  EXPECT_THROW(atomic_write_file(dir.file("new.bin"), [](FileSink&) { throw Error("stop"); }),
               Error);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"model.safetensors"});
}

TEST(AtomicWriteFile, RespectsTheUmaskLikeOpen) {
  TempDir dir;
  const mode_t old = ::umask(027);
  atomic_write_file(dir.file("f"), std::string_view("x"));
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(AtomicWriteFile, MissingDirectoryIsAClearError) {
  try {
    atomic_write_file("/nonexistent-kiln-dir/x.bin", std::string_view("x"));
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("/nonexistent-kiln-dir/x.bin: cannot create a temporary file"),
              std::string::npos)
        << m;
  }
}

TEST(AtomicWriteFile, RelativePathInTheCurrentDirectory) {
  TempDir dir;
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  atomic_write_file("rel.bin", std::string_view("r"));
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_EQ(test::read_file(dir.file("rel.bin")), "r");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"rel.bin"});
}

}  // namespace
}  // namespace kiln::io
