// Restores kiln's thread count when a test that changes it ends, also when a failed ASSERT returns
// early, so later tests in the same binary run with the count they expect.
#pragma once

#include "core/thread_pool.h"

namespace kiln::testing {

class ThreadCountRestorer {
 public:
  ThreadCountRestorer() : saved_(num_threads()) {}
  ~ThreadCountRestorer() { set_num_threads(saved_); }
  ThreadCountRestorer(const ThreadCountRestorer&) = delete;
  ThreadCountRestorer& operator=(const ThreadCountRestorer&) = delete;

 private:
  int saved_;
};

}  // namespace kiln::testing
