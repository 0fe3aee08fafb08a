#include "core/storage.h"

#include <unistd.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace kiln {
namespace allocator {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kHugeThreshold = size_t{2} << 20;
// Idle cached bytes are capped at the larger of 2 GiB and the most ever in use at once: a step
// that frees more than 2 GiB (a summarizer's logits over 50,265 tokens are 386 MB per tensor at
// batch 32) must find it all again in the next step, not fault it in afresh, and no program
// keeps more idle than it once used.
constexpr size_t kMinCacheCap = size_t{2} << 30;
// From this size a request may take a larger cached block, up to twice its bucket (best fit).
// Exact buckets suffice when every step has the same shapes (BERT at a fixed length, DenseNet);
// batches padded to their own longest example change shapes every step, and a miss on a large
// block costs the kernel zeroing fresh pages. In a summarization training run (perf) that zeroing
// took 34% of the time with exact buckets and a fixed 2 GiB cap, 8% with this rule and the cap
// below (early steps, while batch lengths still set records). Small blocks keep exact buckets
// (cheap to make, and plenty of them).
constexpr size_t kBestFitFrom = size_t{256} << 10;

// Round up so similar sizes share a bucket: multiples of 64 B below 4 KiB, otherwise the next of
// four steps per power of two (at most 25% waste).
size_t bucket_size(size_t n) {
  if (n <= 4096) return (n + kAlign - 1) / kAlign * kAlign;
  size_t p = 4096;
  while (p * 2 < n) p *= 2;
  const size_t step = p / 4;
  return (n + step - 1) / step * step;
}

struct State {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // capacity -> block
  Stats stats;
};

State& state() {
  static State* s = new State();  // leaked on purpose: storages may die during static destruction
  return *s;
}

void* system_alloc(size_t cap) {
  void* p = nullptr;
  const size_t align = cap >= kHugeThreshold ? kHugeThreshold : kAlign;
  if (posix_memalign(&p, align, cap) != 0) throw std::bad_alloc();
  if (cap >= kHugeThreshold) madvise(p, cap, MADV_HUGEPAGE);
  return p;
}

}  // namespace

// KILN_POISON_ALLOC=1 fills every block handed out with 0xFF bytes (NaN as floats, -1 as ints), so
// a kernel that reads memory it never wrote produces NaN instead of plausible stale values.
bool poison_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("KILN_POISON_ALLOC");
    return e && *e && *e != '0';
  }();
  return on;
}

void* take_block(size_t nbytes, size_t* capacity);

void* take(size_t nbytes, size_t* capacity) {
  void* p = take_block(nbytes, capacity);
  if (poison_enabled()) std::memset(p, 0xFF, *capacity);
  return p;
}

void* take_block(size_t nbytes, size_t* capacity) {
  const size_t cap = bucket_size(nbytes == 0 ? kAlign : nbytes);
  State& s = state();
  {
    std::lock_guard<std::mutex> lk(s.mu);
    auto it = cap >= kBestFitFrom ? s.free_blocks.lower_bound(cap) : s.free_blocks.find(cap);
    if (it != s.free_blocks.end() && it->first <= 2 * cap) {
      const size_t got = it->first;  // the block's own capacity: give_back files it under that
      void* p = it->second;
      s.free_blocks.erase(it);
      s.stats.bytes_cached -= got;
      s.stats.bytes_in_use += got;
      s.stats.cache_hits++;
      if (s.stats.bytes_in_use > s.stats.peak_bytes_in_use)
        s.stats.peak_bytes_in_use = s.stats.bytes_in_use;
      *capacity = got;
      return p;
    }
  }
  void* p = system_alloc(cap);
  std::lock_guard<std::mutex> lk(s.mu);
  s.stats.allocations++;
  s.stats.bytes_in_use += cap;
  if (s.stats.bytes_in_use > s.stats.peak_bytes_in_use)
    s.stats.peak_bytes_in_use = s.stats.bytes_in_use;
  *capacity = cap;
  return p;
}

void give_back(void* p, size_t cap) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.stats.bytes_in_use -= cap;
  const size_t limit = std::max(kMinCacheCap, s.stats.peak_bytes_in_use);
  // Over the limit, smaller idle blocks go first: a large block serves requests down to half its
  // size, and one freed here would have to be faulted in afresh at the next step's peak.
  while (s.stats.bytes_cached + cap > limit && !s.free_blocks.empty() &&
         s.free_blocks.begin()->first < cap) {
    auto smallest = s.free_blocks.begin();
    s.stats.bytes_cached -= smallest->first;
    std::free(smallest->second);
    s.free_blocks.erase(smallest);
  }
  if (s.stats.bytes_cached + cap > limit) {
    std::free(p);
    return;
  }
  s.free_blocks.emplace(cap, p);
  s.stats.bytes_cached += cap;
}

Stats stats() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.stats;
}

void release_cached() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  for (auto& [cap, p] : s.free_blocks) std::free(p);
  s.free_blocks.clear();
  s.stats.bytes_cached = 0;
}

}  // namespace allocator

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (device != Device::CPU) throw std::runtime_error("kiln: only CPU storage is built in");
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = allocator::take(nbytes, &s->capacity_);
  s->nbytes_ = nbytes;
  s->device_ = device;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes,
                                       std::shared_ptr<const void> keepalive, Device device,
                                       bool is_writable) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = data;
  s->nbytes_ = nbytes;
  s->device_ = device;
  s->owned_ = false;
  s->writable_ = is_writable;
  s->keepalive_ = std::move(keepalive);
  return s;
}

std::shared_ptr<Storage> Storage::wrap_file_mapping(const void* data, size_t nbytes,
                                                    std::shared_ptr<const void> keepalive) {
  auto s = wrap(const_cast<void*>(data), nbytes, std::move(keepalive));
  s->file_mapped_ = true;
  return s;
}

void Storage::drop_resident_pages() const {
  if (!file_mapped_ || nbytes_ == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data_) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data_) + nbytes_) / page * page;
  // Only whole pages inside this storage; a read-only private file mapping is re-read from the
  // page cache on the next touch, so this never changes what any view sees.
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

Storage::~Storage() {
  if (owned_ && data_) allocator::give_back(data_, capacity_);
}

}  // namespace kiln
