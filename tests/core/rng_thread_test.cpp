// Philox known-answer vectors (from the Random123 paper's test suite) and thread-pool behaviour.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "core/rng.h"
#include "core/thread_pool.h"

namespace kiln {
namespace {

TEST(Philox, KnownAnswerVectors) {
  EXPECT_EQ(philox4x32(0, 0, 0),
            (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32(~0ull, ~0ull, ~0ull),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  // Counter words (243f6a88 85a308d3 13198a2e 03707344), key words (a4093822 299f31d0).
  EXPECT_EQ(philox4x32(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, StreamIsAPureFunctionOfSeedAndIndex) {
  Generator g(123);
  const uint64_t start = g.reserve(10);
  EXPECT_EQ(start, 0u);
  EXPECT_EQ(g.offset(), 10u);
  EXPECT_EQ(Generator::uniform_at(123, 5), Generator::uniform_at(123, 5));
  EXPECT_NE(Generator::uniform_at(123, 5), Generator::uniform_at(124, 5));
  Generator a(9), b(9);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
  for (int i = 0; i < 10000; ++i) {
    const float u = Generator::uniform_at(1, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
  }
}

TEST(ThreadPool, CoversRangeExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<std::atomic<int>> hits(10007);
    parallel_for(0, 10007, 13, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
  set_num_threads(0);
}

TEST(ThreadPool, NestedCallsRunInlineAndExceptionsPropagate) {
  set_num_threads(2);
  std::atomic<int> inner{0};
  parallel_for(0, 4, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      EXPECT_TRUE(in_parallel_region());
      parallel_for(0, 100, 1, [&](int64_t bb, int64_t ee) { inner += static_cast<int>(ee - bb); });
    }
  });
  EXPECT_EQ(inner.load(), 400);
  EXPECT_THROW(parallel_for(0, 1000, 1,
                            [](int64_t b, int64_t) {
                              if (b >= 500) throw std::runtime_error("boom");
                            }),
               std::runtime_error);
  // The pool still works after an exception.
  std::atomic<int64_t> total{0};
  parallel_for(0, 1000, 1, [&](int64_t b, int64_t e) { total += e - b; });
  EXPECT_EQ(total.load(), 1000);
  set_num_threads(0);
}

}  // namespace
}  // namespace kiln
