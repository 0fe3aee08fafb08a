// A seeded, deterministic cousin of tests/fuzz/safetensors_header_fuzz.cpp so that every CI run
// (and the sanitizer build) pushes a few thousand damaged headers through the parser.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include "tests/fuzz/safetensors_fuzz_check.h"
#include "tests/io/io_test_util.h"

namespace kiln::io {
namespace {

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/fuzz/corpus";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string s = test::read_file(e.path().string());
    out.emplace_back(s.begin(), s.end());
  }
  const uint8_t buf[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  out.push_back(encode_safetensors({{"w", FileDType::F32, {2, 3}, buf, 24},
                                    {"b", FileDType::I8, {5}, buf, 5},
                                    {"s", FileDType::F64, {}, buf, 8}},
                                   {{"format", "pt"}}));
  return out;
}

const char* kTokens[] = {"{",
                         "}",
                         "[",
                         "]",
                         ":",
                         ",",
                         "\"dtype\"",
                         "\"shape\"",
                         "\"data_offsets\"",
                         "\"__metadata__\"",
                         "\"F32\"",
                         "\"BOOL\"",
                         "\"F8_E5M2\"",
                         "\"x\"",
                         "0",
                         "1",
                         "8",
                         "-1",
                         "4294967296",
                         "9223372036854775808",
                         "18446744073709551615",
                         "1e400",
                         "1.5",
                         "null",
                         "true",
                         "\"\\u0000\"",
                         "\"\\ud800\"",
                         " ",
                         "\"",
                         "\\"};

// Splits a file into (JSON text, data), mutates the text and/or data, and reassembles it, usually
// with a consistent length prefix so that the damage reaches the JSON and layout checks.
Bytes mutate(const Bytes& seed, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : size_t{0}; };
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | seed[i];
  std::string text(seed.begin() + 8, seed.begin() + 8 + static_cast<long>(n));
  Bytes data(seed.begin() + 8 + static_cast<long>(n), seed.end());

  const int rounds = 1 + static_cast<int>(pick(4));
  for (int r = 0; r < rounds; ++r) {
    switch (pick(8)) {
      case 0:  // flip a bit
        if (!text.empty()) text[pick(text.size())] ^= static_cast<char>(1 << pick(8));
        break;
      case 1:
      case 2:  // insert a token
        text.insert(pick(text.size() + 1), kTokens[pick(std::size(kTokens))]);
        break;
      case 3: {  // delete a range
        const size_t at = pick(text.size() + 1), len = pick(8);
        text.erase(at, len);
        break;
      }
      case 4: {  // replace a digit run's digit (shapes and offsets)
        if (text.empty()) break;
        const size_t at = pick(text.size());
        if (text[at] >= '0' && text[at] <= '9') text[at] = static_cast<char>('0' + pick(10));
        break;
      }
      case 5:  // grow or shrink the data section
        if (pick(2) && !data.empty())
          data.resize(pick(data.size()));
        else
          data.resize(data.size() + pick(16), 0x5a);
        break;
      case 6: {  // duplicate a slice of the header (duplicate keys, deep nesting)
        if (text.empty()) break;
        const size_t at = pick(text.size()), len = 1 + pick(text.size() - at);
        text.insert(at, text.substr(at, len));
        break;
      }
      case 7:  // a raw random byte
        text.insert(pick(text.size() + 1), 1, static_cast<char>(rng() & 0xff));
        break;
    }
  }
  uint64_t len = text.size();
  switch (pick(10)) {
    case 0:
      len = rng();
      break;  // garbage length
    case 1:
      len += pick(5);
      break;  // a little too long
    case 2:
      len = len > 3 ? len - pick(4) : len;
      break;  // a little too short
    default:
      break;
  }
  Bytes out = test::frame(len, text, data);
  if (pick(20) == 0) out.resize(pick(out.size() + 1));  // truncate anywhere
  return out;
}

TEST(SafetensorsFuzz, SeededMutationsNeverBreakTheParser) {
  const auto corpus = seeds();
  ASSERT_GE(corpus.size(), 5u);
  for (const auto& s : corpus) {
    const auto r = fuzz::check_safetensors_bytes(s.data(), s.size());
    ASSERT_TRUE(r.accepted) << "every seed must be a valid file";
    ASSERT_EQ(r.violation, "");
  }

  std::mt19937_64 rng(20261122);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 6000; ++i) {
    const Bytes input = mutate(corpus[i % corpus.size()], rng);
    fuzz::CheckResult r;
    try {
      r = fuzz::check_safetensors_bytes(input.data(), input.size());
    } catch (const std::exception& e) {
      FAIL() << "iteration " << i << ": exception other than kiln::Error: " << e.what();
    }
    ASSERT_EQ(r.violation, "") << "iteration " << i;
    (r.accepted ? accepted : rejected)++;
  }
  // Both outcomes must be common, or the mutations are not testing anything.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 1000);
  RecordProperty("accepted", accepted);
  RecordProperty("rejected", rejected);
}

TEST(SafetensorsFuzz, EveryTruncationOfAValidFileIsRejectedCleanly) {
  for (const auto& s : seeds()) {
    for (size_t len = 0; len < s.size(); ++len) {
      const auto r = fuzz::check_safetensors_bytes(s.data(), len);
      // Cutting the header breaks the length or the JSON; cutting data leaves a tensor short.
      EXPECT_FALSE(r.accepted) << "len " << len << " of " << s.size();
      EXPECT_EQ(r.violation, "");
    }
  }
}

}  // namespace
}  // namespace kiln::io
