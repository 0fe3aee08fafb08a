// The caching allocator's reuse rules (core/storage.h): exact size buckets below 256 KiB, best fit
// up to twice the request from there, and a reused block keeps its own capacity when it returns.
#include <gtest/gtest.h>

#include <cstring>

#include "core/storage.h"

namespace kiln {
namespace {

constexpr size_t KiB = 1024;

// Each test starts from an empty cache so that blocks other tests freed cannot answer.
class AllocatorReuse : public ::testing::Test {
 protected:
  void SetUp() override { allocator::release_cached(); }
  void TearDown() override { allocator::release_cached(); }
};

TEST_F(AllocatorReuse, LargeRequestTakesTheSmallestFittingCachedBlock) {
  void* big;
  void* mid;
  {
    auto a = Storage::allocate(4096 * KiB);
    auto b = Storage::allocate(1024 * KiB);
    big = a->data(), mid = b->data();
  }
  const allocator::Stats before = allocator::stats();
  auto c = Storage::allocate(700 * KiB);  // another bucket than 1 MiB, and under half of 4 MiB
  EXPECT_EQ(c->data(), mid);
  EXPECT_EQ(allocator::stats().allocations, before.allocations);
  EXPECT_EQ(allocator::stats().cache_hits, before.cache_hits + 1);
  std::memset(c->data(), 1, 700 * KiB);  // the whole request is usable memory
  // What is left cached (4 MiB) is more than twice a 1.5 MiB request: a fresh block.
  auto d = Storage::allocate(1536 * KiB);
  EXPECT_NE(d->data(), big);
  EXPECT_EQ(allocator::stats().allocations, before.allocations + 1);
}

TEST_F(AllocatorReuse, ReusedBlockReturnsUnderItsOwnCapacity) {
  void* block;
  { block = Storage::allocate(1024 * KiB)->data(); }
  const size_t cached = allocator::stats().bytes_cached;
  { EXPECT_EQ(Storage::allocate(600 * KiB)->data(), block); }
  // Back in the cache at its full capacity, so a request for the original size finds it again.
  EXPECT_EQ(allocator::stats().bytes_cached, cached);
  EXPECT_EQ(Storage::allocate(1024 * KiB)->data(), block);
}

TEST_F(AllocatorReuse, SmallRequestsUseExactBuckets) {
  void* block;
  { block = Storage::allocate(64 * KiB)->data(); }
  const allocator::Stats before = allocator::stats();
  auto smaller = Storage::allocate(40 * KiB);  // a smaller bucket: the 64 KiB block stays cached
  EXPECT_NE(smaller->data(), block);
  EXPECT_EQ(allocator::stats().allocations, before.allocations + 1);
  auto same = Storage::allocate(64 * KiB);
  EXPECT_EQ(same->data(), block);
}

// Over the idle cap (the larger of 2 GiB and the peak in use), smaller idle blocks are freed first
// so that the large one the next step needs stays. The blocks are never touched: address space
// only.
TEST_F(AllocatorReuse, OverTheCapSmallerIdleBlocksGoFirst) {
  constexpr size_t MiB = 1024 * KiB;
  if (allocator::stats().peak_bytes_in_use > 1024 * MiB)
    GTEST_SKIP() << "an earlier test in this process already used over 1 GiB at once";
  { auto small = Storage::allocate(1200 * MiB); }  // cached: 1.2 GiB (peak 1.2 GiB, cap 2 GiB)
  void* large;
  size_t large_cached;
  {
    auto big = Storage::allocate(2560 * MiB);  // too big for the cached block: a fresh one
    large = big->data();
    large_cached = allocator::stats().bytes_cached;
    EXPECT_GE(large_cached, 1200 * MiB);
  }
  // 1.2 + 2.5 GiB idle is over the cap (the 2.5 GiB peak): the 1.2 GiB block was freed, not the
  // 2.5 GiB one, which the next request of its size gets back.
  EXPECT_LT(allocator::stats().bytes_cached, large_cached + 2560 * MiB);
  EXPECT_GE(allocator::stats().bytes_cached, 2560 * MiB);
  EXPECT_EQ(Storage::allocate(2560 * MiB)->data(), large);
}

}  // namespace
}  // namespace kiln
