// `kiln inspect` end to end, through the built binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "tests/io/io_test_util.h"

namespace kiln::io {
namespace {

using test::run_kiln;
using test::TempDir;

// A small file with known totals: 2*3 F32 + 4 I64 + 5 U16 + an F8 scalar.
std::string make_file(const TempDir& dir, const std::map<std::string, std::string>& meta) {
  static const uint8_t buf[64] = {};
  const std::string path = dir.file("small.safetensors");
  write_safetensors(path,
                    {{"layer.weight", FileDType::F32, {2, 3}, buf, 24},
                     {"ids", FileDType::I64, {4}, buf, 32},
                     {"half", FileDType::U16, {5}, buf, 10},
                     {"scale", FileDType::F8_E4M3, {}, buf, 1}},
                    meta);
  return path;
}

TEST(InspectCli, PrintsMetadataTensorsAndTotals) {
  TempDir dir;
  const std::string long_value(5000, 'v');
  const auto path = make_file(dir, {{"format", "pt"}, {"tokenizer", long_value}});
  const auto r = run_kiln({"inspect", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("metadata (2 keys)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("format     pt"), std::string::npos) << r.out;
  // Long values are cut in the table, with their full length shown.
  EXPECT_NE(r.out.find("... (5000 bytes)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(long_value), std::string::npos);
  EXPECT_NE(r.out.find("layer.weight  F32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[2, 3]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("F8_E4M3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 tensors, 16 parameters, 67 bytes of tensor data"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("I64: 1 tensors, 4 parameters, 32 bytes"), std::string::npos) << r.out;

  const auto full = run_kiln({"inspect", "--full", path});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_NE(full.out.find(long_value), std::string::npos);
}

TEST(InspectCli, JsonIsCompleteAndTotalsAdd) {
  TempDir dir;
  const std::string long_value(5000, 'v');
  const auto path = make_file(dir, {{"format", "pt"}, {"tokenizer", long_value}});
  const auto r = run_kiln({"inspect", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["file"], path);
  EXPECT_EQ(j["metadata"]["tokenizer"], long_value) << "--json keeps metadata in full";
  ASSERT_EQ(j["tensors"].size(), 4u);
  EXPECT_EQ(j["tensors"][0]["name"], "layer.weight");
  EXPECT_EQ(j["tensors"][0]["dtype"], "F32");
  EXPECT_EQ(j["tensors"][0]["kiln_dtype"], "f32");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json({2, 3}));
  EXPECT_TRUE(j["tensors"][2]["kiln_dtype"].is_null()) << "U16 has no kiln dtype";
  int64_t params = 0, bytes = 0;
  for (const auto& t : j["tensors"]) {
    params += t["parameters"].get<int64_t>();
    bytes += t["bytes"].get<int64_t>();
    EXPECT_EQ(t["data_offsets"][1].get<int64_t>() - t["data_offsets"][0].get<int64_t>(),
              t["bytes"].get<int64_t>());
  }
  EXPECT_EQ(params, 16);
  EXPECT_EQ(bytes, 67);
  EXPECT_EQ(j["totals"]["tensors"], 4);
  EXPECT_EQ(j["totals"]["parameters"], params);
  EXPECT_EQ(j["totals"]["bytes"], bytes);
  EXPECT_EQ(j["totals"]["by_dtype"]["F32"]["parameters"], 6);
  EXPECT_EQ(j["file_size"].get<int64_t>(), j["data_offset"].get<int64_t>() + bytes);
}

TEST(InspectCli, RealModelFile) {
  const std::string path =
      std::string(KILN_SHARED_DIR) + "/refs/models/bert-tokcls/model.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no shared data";
  const auto r = run_kiln({"inspect", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["totals"]["tensors"], 40);
  EXPECT_EQ(j["totals"]["parameters"], 961571 + 512);  // parameters + the position_ids buffer
  EXPECT_EQ(j["metadata"]["format"], "pt");
}

TEST(InspectCli, UnknownFlagIsAUsageError) {
  const auto r = run_kiln({"inspect", "--bogus", "x.safetensors"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option '--bogus'"), std::string::npos) << r.err;
}

TEST(InspectCli, MissingArgumentIsAUsageError) {
  const auto r = run_kiln({"inspect"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("FILE"), std::string::npos) << r.err;
}

TEST(InspectCli, HelpDocumentsTheOutput) {
  const auto r = run_kiln({"inspect", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--json"), std::string::npos);
  EXPECT_NE(r.out.find("--full"), std::string::npos);
}

TEST(InspectCli, MissingFileNamesThePath) {
  const auto r = run_kiln({"inspect", "/nonexistent/kiln/model.safetensors"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/kiln/model.safetensors"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(InspectCli, CorruptFileFailsWithTheReason) {
  TempDir dir;
  const auto path = make_file(dir, {});
  std::string bytes = test::read_file(path);
  bytes.resize(bytes.size() - 3);  // truncated download
  test::write_file(dir.file("cut.safetensors"), {bytes.begin(), bytes.end()});
  const auto r = run_kiln({"inspect", dir.file("cut.safetensors")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir.file("cut.safetensors")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("run past the end of the data section"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << "nothing is printed for a file that failed validation";

  test::write_file(dir.file("junk.safetensors"), {'h', 'e', 'l', 'l', 'o', '\n'});
  const auto j = run_kiln({"inspect", "--json", dir.file("junk.safetensors")});
  EXPECT_EQ(j.exit_code, 1);
  EXPECT_NE(j.err.find("too short for the 8-byte header length"), std::string::npos) << j.err;
}

TEST(InspectCli, HostileNamesCannotReachTheTerminal) {
  TempDir dir;
  const uint8_t b = 0;
  const std::string path = dir.file("evil.safetensors");
  // Valid UTF-8 that a terminal would act on: OSC title change, BEL, clear screen, C1 CSI.
  write_safetensors(path, {{"x\x1b]0;pwned\x07", FileDType::U8, {1}, &b, 1}},
                    {{"k\x1b[2J",
                      "v\xc2\x9b"
                      "31m"}});
  const auto r = run_kiln({"inspect", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(r.out.find('\x07'), std::string::npos);
  EXPECT_EQ(r.out.find("\xc2\x9b"), std::string::npos);
  EXPECT_NE(r.out.find("x\\x1b]0;pwned\\x07"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("v\\xc2\\x9b31m"), std::string::npos) << r.out;
  // JSON output keeps the exact strings (escaped as JSON requires).
  const auto j = run_kiln({"inspect", "--json", path});
  ASSERT_EQ(j.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(j.out)["tensors"][0]["name"], "x\x1b]0;pwned\x07");
}

}  // namespace
}  // namespace kiln::io
