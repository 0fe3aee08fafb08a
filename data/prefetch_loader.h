// Loads items 0, 1, ..., count - 1 on background threads and hands them out in order. Each item
// is load(i), which must be a pure function of i (draw randomness from ExampleRng, never from a
// shared stream), so results never depend on the number of threads or on timing: threads only
// decide when an item is ready, not what it is. At most `window` items are loaded ahead of the
// consumer, which bounds memory. Worker threads are kiln's own, not core's parallel_for pool (that
// one runs the compute the consumer does meanwhile); a load function should not use parallel_for.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor.h"

namespace kiln::data {

class PrefetchLoader {
 public:
  using LoadFn = std::function<Tensor(int64_t index)>;

  // threads == 0 loads each item on the calling thread inside next().
  PrefetchLoader(int64_t count, LoadFn load, int threads = 2, int64_t window = 16);
  ~PrefetchLoader();  // stops and joins the workers (items not yet taken are dropped)
  PrefetchLoader(const PrefetchLoader&) = delete;
  PrefetchLoader& operator=(const PrefetchLoader&) = delete;

  // The next item in index order. Rethrows the exception its load threw (the loader stays
  // usable for the items after it). Throws kiln::Error after the last item.
  Tensor next();
  int64_t remaining() const { return count_ - next_out_; }

 private:
  struct Result {
    Tensor tensor;
    std::exception_ptr error;
  };
  void work();

  const int64_t count_;
  const LoadFn load_;
  const int64_t window_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int64_t, Result> ready_;  // loaded, not yet taken
  int64_t next_claim_ = 0;           // the next index a worker will load
  int64_t next_out_ = 0;             // the next index next() returns
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kiln::data
