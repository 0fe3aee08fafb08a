#include "data/prefetch_loader.h"

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace kiln::data {

PrefetchLoader::PrefetchLoader(int64_t count, LoadFn load, int threads, int64_t window)
    : count_(count), load_(std::move(load)), window_(std::max<int64_t>(window, 1)) {
  KILN_CHECK(count >= 0 && threads >= 0, "PrefetchLoader: count and threads must be >= 0");
  for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { work(); });
}

PrefetchLoader::~PrefetchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void PrefetchLoader::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] {
      return stopping_ || (next_claim_ < count_ && next_claim_ < next_out_ + window_);
    });
    if (stopping_) return;
    const int64_t index = next_claim_++;
    lock.unlock();
    Result result;
    try {
      result.tensor = load_(index);
    } catch (...) {
      result.error = std::current_exception();
    }
    lock.lock();
    ready_.emplace(index, std::move(result));
    changed_.notify_all();
  }
}

Tensor PrefetchLoader::next() {
  KILN_CHECK(next_out_ < count_, "PrefetchLoader: all ", count_, " items were already taken");
  if (workers_.empty()) return load_(next_out_++);
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return ready_.count(next_out_) > 0; });
  auto node = ready_.extract(next_out_);
  ++next_out_;
  lock.unlock();
  changed_.notify_all();  // a window slot is free
  if (node.mapped().error) std::rethrow_exception(node.mapped().error);
  return std::move(node.mapped().tensor);
}

}  // namespace kiln::data
