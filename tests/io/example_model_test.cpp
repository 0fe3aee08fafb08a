// examples/tiny-bert-keyphrase.safetensors is the bert-tokcls reference checkpoint re-written by
// kiln's writer with provenance in __metadata__. This test checks it against its source; with
// KILN_WRITE_EXAMPLES=1 in the environment it first (re)generates it:
//   KILN_WRITE_EXAMPLES=1 build/tests/kiln_io_tests --gtest_filter='ExampleModel.*'
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "core/io/safetensors.h"
#include "tests/io/io_test_util.h"

namespace kiln::io {
namespace {

const std::string kExample =
    std::string(KILN_SOURCE_DIR) + "/examples/tiny-bert-keyphrase.safetensors";
const std::string kSourceDir = std::string(KILN_SHARED_DIR) + "/refs/models/bert-tokcls";

// sha256 via coreutils: the only place kiln needs a hash, and only for provenance.
std::string sha256_file(const std::string& path) {
  const std::string cmd = "sha256sum " + test::shell_quote(path);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "";
  char buf[65] = {};
  const size_t n = std::fread(buf, 1, 64, p);
  ::pclose(p);
  return n == 64 ? std::string(buf, 64) : "";
}

std::map<std::string, std::string> example_metadata() {
  return {
      {"format", "pt"},  // lets transformers' from_pretrained load the file too
      {"config", test::read_file(kSourceDir + "/config.json")},
      {"source",
       "refs/models/bert-tokcls/model.safetensors: BertForTokenClassification (O/B-KEY/I-KEY "
       "keyphrase tagger) trained by Hugging Face transformers 4.30.2 for 300 steps on 1000 "
       "Inspec abstracts"},
      {"source_sha256", sha256_file(kSourceDir + "/model.safetensors")},
      {"data_notice",
       "Data from the Inspec Database kindly supplied by The IET. Research use only."},
      {"producer", "kiln tests/io/example_model_test.cpp (KILN_WRITE_EXAMPLES=1)"},
  };
}

void write_example() {
  const auto src = SafetensorsFile::open(kSourceDir + "/model.safetensors");
  std::vector<TensorToWrite> tensors;
  for (const auto& t : src.entries())
    tensors.push_back({t.name, t.dtype, t.shape, t.data, t.nbytes()});
  const auto meta = example_metadata();
  ASSERT_EQ(meta.at("source_sha256").size(), 64u) << "sha256sum failed";
  write_safetensors(kExample, tensors, meta);
}

TEST(ExampleModel, MatchesItsSourceCheckpoint) {
  if (!std::filesystem::exists(kSourceDir)) GTEST_SKIP() << "no shared data at " << kSourceDir;
  if (const char* w = std::getenv("KILN_WRITE_EXAMPLES"); w && std::string(w) == "1") {
    write_example();
  }
  const auto ex = SafetensorsFile::open(kExample);
  const auto src = SafetensorsFile::open(kSourceDir + "/model.safetensors");
  EXPECT_LT(ex.header().file_size, 4'000'000u);
  EXPECT_EQ(ex.header().data_offset % 64, 0u);

  auto want = example_metadata();
  if (want.at("source_sha256").empty()) want.erase("source_sha256");  // no sha256sum here
  for (const auto& [k, v] : want) EXPECT_EQ(ex.metadata().at(k), v) << k;

  ASSERT_EQ(ex.entries().size(), src.entries().size());
  for (size_t i = 0; i < src.entries().size(); ++i) {
    const auto &a = ex.entries()[i], &b = src.entries()[i];
    SCOPED_TRACE(b.name);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.dtype, b.dtype);
    EXPECT_EQ(a.shape, b.shape);
    ASSERT_EQ(a.nbytes(), b.nbytes());
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0);
  }
}

}  // namespace
}  // namespace kiln::io
