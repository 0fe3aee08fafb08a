// The thread pool across resizes: every index is visited exactly once per call, whatever the
// thread count before and after, and a resize never leaves a worker that reacts to a stale job
// (that once hung the next call: a new worker counted itself out of a job it never joined).
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "core/thread_pool.h"

namespace kiln {
namespace {

TEST(ThreadPool, ResizesBetweenJobsNeverLoseOrRepeatWork) {
  const int before = num_threads();
  for (int round = 0; round < 300; ++round) {
    set_num_threads(1 + round % 3);
    for (int job = 0; job < 3; ++job) {
      std::vector<std::atomic<int>> hits(997);
      parallel_for(0, 997, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      for (size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << round << " " << i;
    }
  }
  set_num_threads(before);
}

TEST(ThreadPool, ExceptionsReachTheCaller) {
  set_num_threads(2);
  EXPECT_THROW(parallel_for(0, 100, 1,
                            [](int64_t b, int64_t) {
                              if (b >= 50) throw std::runtime_error("task failed");
                            }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int64_t> sum{0};
  parallel_for(0, 100, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
}

}  // namespace
}  // namespace kiln
