// kiln's one thread pool. All parallel work in kiln goes through parallel_for so that only one set
// of worker threads competes for the cores (OpenBLAS is pinned to the same count, see
// set_num_threads). Results must never depend on how a range is chunked: callers either write
// disjoint outputs per index or reduce over fixed, thread-count-independent blocks.
#pragma once

#include <cstdint>
#include <functional>

namespace kiln {

// Number of threads parallel_for may use (including the calling thread). Defaults to
// KILN_NUM_THREADS from the environment, else the number of online CPUs.
int num_threads();
// Resizes the pool and sets OpenBLAS to the same count. n <= 0 means "all CPUs".
void set_num_threads(int n);

// Calls fn(chunk_begin, chunk_end) over disjoint chunks covering [begin, end), each at least
// `grain` long (except the last), possibly concurrently. Runs inline when the range is small, when
// called from inside a worker (no nested parallelism), or when only one thread is configured.
// Exceptions thrown by fn are rethrown on the calling thread (the first one wins).
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn);

// True while running inside a parallel_for worker (used to avoid nested parallelism).
bool in_parallel_region();

}  // namespace kiln
