#include "train/distributed.h"

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "core/error.h"

namespace kiln::train {
namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(std::string("MPI: ") + what +
              " failed: " + std::string(msg, static_cast<size_t>(len)));
}

}  // namespace

bool Distributed::launched_by_mpi() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx launchers (Open MPI 5, Slurm's srun
  // --mpi=pmix) set PMIX_RANK; MPICH's hydra and Slurm's PMI-2 set PMI_RANK.
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_RANK") != nullptr;
}

Distributed& Distributed::world() {
  static Distributed w;
  return w;
}

Distributed::Distributed() {
  if (!launched_by_mpi()) return;
  int provided = 0;
  // Only the main thread calls MPI; the worker threads only compute.
  check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  mpi_ = true;
  // MPI_COMM_WORLD's default handler is MPI_ERRORS_ARE_FATAL: a failed transfer (a peer that
  // died) ends the whole job rather than returning to a loop that would wait for it.
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
}

void Distributed::sum_in_rank_order(float* data, const std::vector<size_t>& segment_ends,
                                    std::vector<uint8_t>& present, size_t slice_floats) {
  if (!mpi_ || size_ == 1) return;
  // Slices bound the extra memory (one slice of received pieces, 32 MiB by default) whatever the
  // model size, and keep MPI's int counts far from overflow.
  KILN_CHECK(slice_floats >= 1 && slice_floats < (size_t{1} << 30), "sum_in_rank_order: slice of ",
             slice_floats, " floats");
  const size_t segments = segment_ends.size();
  KILN_CHECK(present.size() == segments, "sum_in_rank_order: ", present.size(),
             " presence flags for ", segments, " segments");
  KILN_CHECK(segments < static_cast<size_t>(INT32_MAX), "sum_in_rank_order: too many segments");
  const size_t n = segments ? segment_ends.back() : 0;
  const auto N = static_cast<size_t>(size_);
  const auto r = static_cast<size_t>(rank_);
  // Which ranks contribute which segment: the same table on every rank.
  std::vector<uint8_t> all(segments * N);
  check_mpi(MPI_Allgather(present.data(), static_cast<int>(segments), MPI_UINT8_T, all.data(),
                          static_cast<int>(segments), MPI_UINT8_T, MPI_COMM_WORLD),
            "MPI_Allgather (gradient presence)");
  std::vector<float> received;
  std::vector<int> send_counts(N), send_displs(N), recv_counts(N), recv_displs(N);
  // A reduce-scatter then an all-gather, by slices: rank j sums piece j of the slice over all
  // ranks, in rank order, then every rank collects every summed piece. Each rank sends and
  // receives about 2 (N-1)/N of the buffer, as a ring all-reduce does.
  for (size_t a = 0; a < n; a += slice_floats) {
    const size_t len = std::min(slice_floats, n - a);
    auto piece_lo = [&](size_t j) { return a + len * j / N; };
    for (size_t j = 0; j < N; ++j) {
      send_counts[j] = static_cast<int>(piece_lo(j + 1) - piece_lo(j));
      send_displs[j] = static_cast<int>(piece_lo(j) - a);
    }
    const size_t lo = piece_lo(r), hi = piece_lo(r + 1), mine = hi - lo;
    received.resize(mine * N);
    for (size_t i = 0; i < N; ++i) {
      recv_counts[i] = static_cast<int>(mine);
      recv_displs[i] = static_cast<int>(i * mine);
    }
    check_mpi(
        MPI_Alltoallv(data + a, send_counts.data(), send_displs.data(), MPI_FLOAT, received.data(),
                      recv_counts.data(), recv_displs.data(), MPI_FLOAT, MPI_COMM_WORLD),
        "MPI_Alltoallv (gradient pieces)");
    // The segments overlapping [lo, hi), each summed over its contributors in rank order.
    size_t s = static_cast<size_t>(std::upper_bound(segment_ends.begin(), segment_ends.end(), lo) -
                                   segment_ends.begin());
    for (size_t start = lo; start < hi; ++s) {
      const size_t end = std::min(hi, segment_ends[s]);
      float* out = data + start;
      const size_t count = end - start;
      bool first = true;
      for (size_t i = 0; i < N; ++i) {
        if (!all[i * segments + s]) continue;
        const float* in = received.data() + i * mine + (start - lo);
        if (first) {
          std::memcpy(out, in, count * sizeof(float));
          first = false;
        } else {
          for (size_t k = 0; k < count; ++k) out[k] += in[k];
        }
      }
      if (first) std::fill(out, out + count, 0.0f);  // no contributor: the caller sees !present
      start = end;
    }
    check_mpi(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data + a, send_counts.data(),
                             send_displs.data(), MPI_FLOAT, MPI_COMM_WORLD),
              "MPI_Allgatherv (summed gradient pieces)");
  }
  for (size_t s = 0; s < segments; ++s) {
    uint8_t any = 0;
    for (size_t i = 0; i < N; ++i) any |= all[i * segments + s];
    present[s] = any;
  }
}

std::vector<double> Distributed::all_gather(double value) {
  std::vector<double> out(static_cast<size_t>(size_), value);
  if (!mpi_ || size_ == 1) return out;
  check_mpi(MPI_Allgather(&value, 1, MPI_DOUBLE, out.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD),
            "MPI_Allgather");
  return out;
}

std::vector<uint64_t> Distributed::all_gather(uint64_t value) {
  std::vector<uint64_t> out(static_cast<size_t>(size_), value);
  if (!mpi_ || size_ == 1) return out;
  check_mpi(MPI_Allgather(&value, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD),
            "MPI_Allgather");
  return out;
}

bool Distributed::any(bool flag) {
  if (!mpi_ || size_ == 1) return flag;
  int in = flag ? 1 : 0, out = 0;
  // An integer maximum: exact whatever order MPI combines in.
  check_mpi(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return out != 0;
}

void Distributed::broadcast(std::string& bytes, int root) {
  if (!mpi_ || size_ == 1) return;
  uint64_t size = bytes.size();
  check_mpi(MPI_Bcast(&size, 1, MPI_UINT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
  KILN_CHECK(size < static_cast<uint64_t>(INT32_MAX), "broadcast of ", size, " bytes is too big");
  bytes.resize(size);
  check_mpi(MPI_Bcast(bytes.data(), static_cast<int>(size), MPI_CHAR, root, MPI_COMM_WORLD),
            "MPI_Bcast");
}

void Distributed::barrier() {
  if (mpi_) check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void Distributed::abort(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  if (mpi_ && !finalized_) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void Distributed::finalize() {
  if (!mpi_ || finalized_) return;
  finalized_ = true;
  MPI_Finalize();
}

void check_same_on_all_ranks(Distributed& world, uint64_t value, const std::string& what) {
  const std::vector<uint64_t> all = world.all_gather(value);
  std::string differ;
  for (size_t i = 1; i < all.size(); ++i)
    if (all[i] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(i);
  KILN_CHECK(differ.empty(), "data-parallel training: ", what, " on rank(s) ", differ,
             " differs from rank 0's; every rank must start from the same model and read the "
             "same data files");
}

uint64_t fingerprint64(const void* data, size_t bytes, uint64_t seed) {
  // FNV-1a style over 8-byte words with a 64-bit multiplier, then the tail bytes.
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0xcbf29ce484222325ull ^ seed;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 32);
}

}  // namespace kiln::train
