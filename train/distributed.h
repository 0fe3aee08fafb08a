// Data-parallel training over MPI (Open MPI's `mpirun -np N kiln train ...`), behind a small
// interface so that the trainer never calls MPI itself and a single process needs no mpirun: MPI
// is initialised only when the process was started by an MPI launcher (its environment names a
// rank); otherwise the process is rank 0 of 1 and nothing here touches MPI.
//
// Every collective here gives bit-identical results on every rank and from run to run: sums are
// taken in rank order 0, 1, ..., N-1 by this code, never by MPI_Allreduce (whose order of
// operations MPI leaves open), so N ranks reproduce one process that adds the same N gradients in
// that order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::train {

class Distributed {
 public:
  // The process's world: initialises MPI on the first call when launched by mpirun (or another
  // PMIx / PMI launcher); rank 0 of 1 otherwise.
  static Distributed& world();
  // Whether this process was started by an MPI launcher (its environment names a rank).
  static bool launched_by_mpi();

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Ranks on this machine (for the default thread count); 1 without MPI.
  int local_size() const { return local_size_; }

  // Sums a buffer over the ranks, in rank order, as kiln's autograd accumulates gradients: the
  // buffer is cut into segments (segment s ends at segment_ends[s]) that a rank contributes only
  // where present[s] is set; segment s of the result is the first contributing rank's values,
  // then plus each later contributor's, in rank order. On return every rank holds that result and
  // present[s] says whether any rank contributed. No-op in a single process.
  // `slice_floats` bounds the floats exchanged per round (and the extra memory); tests shrink it.
  void sum_in_rank_order(float* data, const std::vector<size_t>& segment_ends,
                         std::vector<uint8_t>& present, size_t slice_floats = size_t{1} << 23);
  // Every rank's `value`, indexed by rank.
  std::vector<double> all_gather(double value);
  std::vector<uint64_t> all_gather(uint64_t value);
  // True on every rank when `flag` is true on any.
  bool any(bool flag);
  // Rank `root`'s `bytes` on every rank.
  void broadcast(std::string& bytes, int root = 0);
  void barrier();

  // Ends the whole job at once (mpirun kills the other ranks) with exit status `code`; in a single
  // process, exits. For errors: a rank that stops on its own would leave the others waiting in
  // the next collective.
  [[noreturn]] void abort(int code);
  // Ends MPI after a successful run (every rank must call it); no-op in a single process.
  void finalize();

  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

 private:
  Distributed();
  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool mpi_ = false, finalized_ = false;
};

// Throws a kiln::Error naming the ranks whose `value` differs from rank 0's (e.g. a hash of the
// initial weights, or of the data: every rank must start from the same model and read the same
// examples). `what` names the value in the message.
void check_same_on_all_ranks(Distributed& world, uint64_t value, const std::string& what);

// A 64-bit fingerprint of bytes (for check_same_on_all_ranks; not cryptographic).
uint64_t fingerprint64(const void* data, size_t bytes, uint64_t seed = 0);

}  // namespace kiln::train
