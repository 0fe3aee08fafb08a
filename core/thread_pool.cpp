#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace kiln {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

thread_local bool t_in_region = false;

int default_threads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// How long an idle worker (and the caller waiting for workers) polls before blocking on a
// condition variable. Waking a blocked thread costs tens of microseconds in this VM (a futex
// round trip through the hypervisor), and a BERT forward runs a few hundred parallel regions a
// few microseconds apart, so a short bounded poll removes that latency; after it, threads sleep
// and steal nothing. KILN_SPIN_US=0 turns polling off (e.g. on an oversubscribed machine).
int64_t spin_ns() {
  static const int64_t v = [] {
    if (const char* env = std::getenv("KILN_SPIN_US")) return std::max(0L, std::atol(env)) * 1000;
    return 200L * 1000;
  }();
  return v;
}

// Polls `ready` for up to spin_ns(); true if it became true.
template <class Pred>
bool spin_until(Pred ready) {
  const int64_t budget = spin_ns();
  if (budget == 0) return ready();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if ((i & 63) == 63 &&
        std::chrono::steady_clock::now() - start > std::chrono::nanoseconds(budget)) {
      return ready();
    }
  }
}

// Workers poll briefly (see spin_ns) and then sleep on a condition variable between jobs.
class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return n_threads_; }

  void resize(int n) {
    std::lock_guard<std::mutex> job_lock(job_mutex_);  // never under a running job
    stop();
    n_threads_ = std::max(1, n);
    shutdown_ = false;
    // A new worker must only react to jobs posted after it exists: it starts from the current
    // generation (starting from 0 made a worker created by a resize run a stale job and
    // decrement `active_` for a job it never joined, which could hang the next run()).
    const uint64_t current = generation_.load();
    for (int i = 1; i < n_threads_; ++i) {
      workers_.emplace_back([this, current] { worker_loop(current); });
    }
  }

  void run(int64_t begin, int64_t end, int64_t chunk,
           const std::function<void(int64_t, int64_t)>& fn) {
    std::unique_lock<std::mutex> job_lock(job_mutex_);  // one job at a time from outside
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      begin_ = begin;
      end_ = end;
      chunk_ = chunk;
      next_.store(begin);
      error_ = nullptr;
      active_.store(n_threads_ - 1);
      generation_.store(generation_.load() + 1);
    }
    cv_.notify_all();
    work();
    spin_until([&] { return active_.load(std::memory_order_acquire) == 0; });
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return active_.load() == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work() {
    const bool was = t_in_region;
    t_in_region = true;
    for (;;) {
      const int64_t s = next_.fetch_add(chunk_);
      if (s >= end_) break;
      const int64_t e = std::min(end_, s + chunk_);
      try {
        (*fn_)(s, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) error_ = std::current_exception();
      }
    }
    t_in_region = was;
  }

  void worker_loop(uint64_t seen) {
    for (;;) {
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return shutdown_ || generation_.load() != seen; });
        if (shutdown_) return;
        seen = generation_.load();
      }
      work();
      {
        std::lock_guard<std::mutex> lk(m_);
        if (active_.fetch_sub(1) == 1) done_cv_.notify_all();
      }
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex m_, job_mutex_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t begin_ = 0, end_ = 0, chunk_ = 1;
  std::atomic<int64_t> next_{0};
  // Written under m_; atomic so spinning threads can read them without the lock.
  std::atomic<int> active_{0};
  std::atomic<uint64_t> generation_{0};
  bool shutdown_ = false;
  std::exception_ptr error_;
};

std::mutex g_pool_mutex;
Pool* g_pool = nullptr;

Pool& pool() {
  std::lock_guard<std::mutex> lk(g_pool_mutex);
  if (!g_pool) {
    g_pool = new Pool(default_threads());  // intentionally leaked: lives until exit
    openblas_set_num_threads(g_pool->size());
  }
  return *g_pool;
}

}  // namespace

int num_threads() {
  return pool().size();
}

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Pool& p = pool();
  std::lock_guard<std::mutex> lk(g_pool_mutex);
  if (p.size() != n) p.resize(n);
  openblas_set_num_threads(n);
}

bool in_parallel_region() {
  return t_in_region;
}

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t n = end - begin;
  Pool& p = pool();
  if (t_in_region || p.size() == 1 || n <= grain) {
    fn(begin, end);
    return;
  }
  // About 4 chunks per thread for balance, never smaller than grain.
  const int64_t chunk = std::max(grain, (n + 4 * p.size() - 1) / (4 * p.size()));
  p.run(begin, end, chunk, fn);
}

}  // namespace kiln
