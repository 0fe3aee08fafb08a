// `kiln data fingerprint`: DVC's md5 of data files in .dvc layout, checked against known digests
// and, where DVC is installed, against the .dvc file `dvc add` writes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "data/file_hashes.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

// CRLF line ends on purpose: DVC 3 hashes the bytes as they are (DVC 2 turned CRLF into LF).
constexpr const char* kCrlfText = "id,text\r\n1,hello\r\n2,world\r\n";

TEST(DataFingerprintCli, PrintsADvcFile) {
  TempDir tmp;
  std::ofstream(tmp / "a.csv", std::ios::binary) << kCrlfText;
  std::ofstream(tmp / "b c.bin", std::ios::binary) << std::string("\0\x01\xff", 3);
  auto r = run_kiln("data fingerprint " + (tmp / "a.csv") + " '" + (tmp / "b c.bin") + "'", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "outs:\n- md5: " + data::md5_hex(kCrlfText) +
                          "\n  size: 27\n  hash: md5\n  path: " + (tmp / "a.csv") +
                          "\n- md5: " + data::md5_hex(std::string("\0\x01\xff", 3)) +
                          "\n  size: 3\n  hash: md5\n  path: \"" + (tmp / "b c.bin") + "\"\n");

  // -o: paths relative to the .dvc file, as DVC writes them.
  r = run_kiln("data fingerprint " + (tmp / "a.csv") + " -o " + (tmp / "a.csv.dvc"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(slurp(tmp / "a.csv.dvc").find("  path: a.csv\n"), std::string::npos);

  r = run_kiln("data fingerprint --json " + (tmp / "a.csv"), false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["md5"], data::md5_hex(kCrlfText));
  EXPECT_EQ(j["sha256"], data::hash_file(tmp / "a.csv").sha256);
  EXPECT_EQ(j["size"], 27);

  EXPECT_EQ(run_kiln("data fingerprint " + tmp.path()).exit_code, 1);  // a directory
  EXPECT_EQ(run_kiln("data fingerprint " + (tmp / "missing")).exit_code, 1);
  EXPECT_EQ(run_kiln("data fingerprint").exit_code, 2);
  EXPECT_EQ(run_kiln("data").exit_code, 2);
}

// DVC from $KILN_DVC, PATH, or the benchmark virtualenv beside the repository.
std::string find_dvc() {
  std::vector<std::string> candidates;
  if (const char* d = std::getenv("KILN_DVC")) candidates.push_back(d);
  candidates.push_back("dvc");
  candidates.push_back(std::string(KILN_SOURCE_DIR) + "/../venv-bench/bin/dvc");
  for (const auto& dvc : candidates)
    if (std::system((dvc + " --version >/dev/null 2>&1").c_str()) == 0) return dvc;
  return "";
}

TEST(DataFingerprintCli, Md5EqualsWhatDvcAddWrites) {
  const std::string dvc = find_dvc();
  if (dvc.empty())
    GTEST_SKIP() << "dvc is not installed (pip install dvc, or set KILN_DVC): kiln's md5 is not "
                    "checked against a .dvc file";
  TempDir tmp;
  std::ofstream(tmp / "train.csv", std::ios::binary) << kCrlfText;
  {
    std::ofstream big(tmp / "big.jsonl", std::ios::binary);  // several read buffers' worth
    for (int i = 0; i < 200000; ++i) big << "{\"text\": \"line " << i << "\", \"label\": 1}\n";
  }
  const std::string in_tmp = "cd " + tmp.path() + " && DVC_NO_ANALYTICS=1 " + dvc;
  ASSERT_EQ(std::system((in_tmp + " init --no-scm -q").c_str()), 0);
  for (const std::string name : {"train.csv", "big.jsonl"}) {
    ASSERT_EQ(std::system((in_tmp + " add -q " + name).c_str()), 0) << name;
    const std::string dvc_file = slurp(tmp / (name + ".dvc"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dvc_file, m, std::regex("md5: ([0-9a-f]{32})"))) << dvc_file;
    const auto h = data::hash_file(tmp / name);
    EXPECT_EQ(m[1].str(), h.md5) << name << "\n" << dvc_file;
    EXPECT_NE(dvc_file.find("size: " + std::to_string(h.size)), std::string::npos) << dvc_file;
  }
  // The whole .dvc file as DVC writes it, for a file named relative to the .dvc file.
  auto r = run_kiln("data fingerprint " + (tmp / "train.csv") + " -o " + (tmp / "kiln.dvc"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(tmp / "kiln.dvc"), slurp(tmp / "train.csv.dvc"));
}

}  // namespace
}  // namespace kiln::testing
