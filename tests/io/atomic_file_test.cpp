#include "core/io/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

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

// The message of the kiln::Error that writing `path` throws ("" when it does not throw).
std::string write_error(const std::string& path, std::string_view bytes = "new") {
  try {
    atomic_write_file(path, bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AtomicWriteFile, AFailedWriteNamesThePathAndKeepsThePreviousFile) {
  // A file size limit makes write() fail part way with EFBIG, as a full disk fails it with ENOSPC,
  // and works for root too. SIGXFSZ is ignored so the write returns the error instead.
  TempDir dir;
  const std::string path = dir.file("model.kiln");
  atomic_write_file(path, std::string_view("old content"));
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string message = write_error(path, std::string(1 << 20, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find(path + ": write failed after 4096 bytes: " + std::strerror(EFBIG)),
            std::string::npos)
      << message;
  EXPECT_EQ(test::read_file(path), "old content");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"model.kiln"});
}

TEST(AtomicWriteFile, APathBelowARegularFileIsAClearError) {
  TempDir dir;
  atomic_write_file(dir.file("file"), std::string_view("x"));
  const std::string message = write_error(dir.file("file") + "/out.bin");
  EXPECT_NE(message.find(dir.file("file") + "/out.bin: cannot create a temporary file"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(std::strerror(ENOTDIR)), std::string::npos) << message;
}

TEST(AtomicWriteFile, RefusesToReplaceADirectory) {
  TempDir dir;
  ASSERT_EQ(::mkdir(dir.file("d").c_str(), 0755), 0);
  const std::string message = write_error(dir.file("d"));
  EXPECT_NE(message.find(dir.file("d") + " is a directory, not a regular file"), std::string::npos)
      << message;
  EXPECT_TRUE(std::filesystem::is_directory(dir.file("d")));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"d"});
}

// A character device like /dev/null (1:3). As root, a copy in `dir` is used, so that a regression
// replaces the copy rather than the machine's /dev/null; others cannot replace /dev/null anyway.
std::string null_device(const TempDir& dir) {
  if (::geteuid() != 0) return "/dev/null";
  const std::string node = dir.file("null");
  if (::mknod(node.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) != 0) return "";
  return node;
}

TEST(AtomicWriteFile, RefusesToReplaceADeviceNode) {
  TempDir dir;
  const std::string device = null_device(dir);
  if (device.empty()) GTEST_SKIP() << "cannot make a device node";
  struct stat before {};
  ASSERT_EQ(::stat(device.c_str(), &before), 0);
  const std::string message = write_error(device);
  EXPECT_NE(message.find(device + " is a character device, not a regular file"), std::string::npos)
      << message;
  struct stat after {};
  ASSERT_EQ(::lstat(device.c_str(), &after), 0);
  EXPECT_TRUE(S_ISCHR(after.st_mode));
  EXPECT_EQ(after.st_ino, before.st_ino);
}

TEST(AtomicWriteFile, RefusesToReplaceAFifoOrASocket) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0644), 0);
  EXPECT_NE(write_error(dir.file("fifo")).find(dir.file("fifo") + " is a FIFO (named pipe)"),
            std::string::npos);

  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock = dir.file("sock");
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_NE(write_error(sock).find(sock + " is a socket"), std::string::npos);
  ::close(fd);

  struct stat st {};
  ASSERT_EQ(::lstat(dir.file("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"fifo", "sock"}));
}

TEST(AtomicWriteFile, WritesThroughASymlinkAndKeepsTheLink) {
  TempDir dir;
  ASSERT_EQ(::mkdir(dir.file("real").c_str(), 0755), 0);
  atomic_write_file(dir.file("real/model.kiln"), std::string_view("old"));
  // A relative link, reached through a second link: the final target is what gets replaced.
  ASSERT_EQ(::symlink("real/model.kiln", dir.file("link1").c_str()), 0);
  ASSERT_EQ(::symlink("link1", dir.file("link2").c_str()), 0);
  atomic_write_file(dir.file("link2"), std::string_view("new"));
  EXPECT_EQ(test::read_file(dir.file("real/model.kiln")), "new");
  for (const char* link : {"link1", "link2"}) {
    struct stat st {};
    ASSERT_EQ(::lstat(dir.file(link).c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode)) << link;
  }
  // The temporary file went beside the target, and nothing is left behind anywhere.
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"link1", "link2", "real"}));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("real")),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(AtomicWriteFile, RefusesADanglingSymlinkOrOneToADirectory) {
  TempDir dir;
  ASSERT_EQ(::symlink("missing.kiln", dir.file("dangling").c_str()), 0);
  std::string message = write_error(dir.file("dangling"));
  EXPECT_NE(message.find(dir.file("dangling") +
                         " is a symbolic link to 'missing.kiln', which does not exist"),
            std::string::npos)
      << message;
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"dangling"});  // nothing created

  ASSERT_EQ(::mkdir(dir.file("d").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("d", dir.file("to-dir").c_str()), 0);
  message = write_error(dir.file("to-dir"));
  EXPECT_NE(message.find("which is a directory, not a regular file"), std::string::npos) << message;
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"d", "dangling", "to-dir"}));
  // Through a link to a device, the device is refused as well (and not replaced).
  const std::string device = null_device(dir);
  if (device.empty()) return;
  ASSERT_EQ(::symlink(device.c_str(), dir.file("to-null").c_str()), 0);
  message = write_error(dir.file("to-null"));
  EXPECT_NE(message.find("which is a character device"), std::string::npos) << message;
  struct stat st {};
  ASSERT_EQ(::lstat(device.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

}  // namespace
}  // namespace kiln::io
