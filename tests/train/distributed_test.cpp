// train/distributed.h. Without an MPI launcher the world is rank 0 of 1 and every collective is
// the identity. The MPI test starts this same test binary under `mpirun -np 3` (skipped without
// mpirun); there each rank checks the ordered sum against a plain loop over all ranks' inputs,
// bit for bit, with small slices so that pieces, slices and parameter segments all cut each other.
#include "train/distributed.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "tests/cli/cli_util.h"

namespace kiln::train {
namespace {

TEST(Distributed, WithoutMpiRunIsRankZeroOfOneAndCollectivesAreIdentities) {
  if (Distributed::launched_by_mpi()) GTEST_SKIP() << "running under mpirun";
  Distributed& w = Distributed::world();
  EXPECT_EQ(w.rank(), 0);
  EXPECT_EQ(w.size(), 1);
  std::vector<float> data = {1.5f, -2.0f, 3.25f};
  std::vector<uint8_t> present = {1, 0};
  w.sum_in_rank_order(data.data(), {1, 3}, present);
  EXPECT_EQ(data, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  EXPECT_EQ(present, (std::vector<uint8_t>{1, 0}));
  EXPECT_TRUE(w.any(true));
  EXPECT_FALSE(w.any(false));
  EXPECT_EQ(w.all_gather(2.5), std::vector<double>{2.5});
  std::string bytes = "abc";
  w.broadcast(bytes);
  EXPECT_EQ(bytes, "abc");
  EXPECT_NO_THROW(check_same_on_all_ranks(w, 7, "x"));
}

TEST(Distributed, FingerprintSeesEveryByte) {
  std::vector<uint8_t> a(37, 1);
  const uint64_t base = fingerprint64(a.data(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    auto b = a;
    b[i] ^= 0x10;
    EXPECT_NE(fingerprint64(b.data(), b.size()), base) << i;
  }
  EXPECT_NE(fingerprint64(a.data(), a.size(), 1), base);
}

// Rank r's value at i: ranks 0 and 1 cancel at 1e8 and rank 2 adds a small number, so that
// (x0 + x1) + x2 = x2 while (x2 + x1) + x0 loses x2 to rounding: the order shows.
float input(int rank, size_t i) {
  const float big = 1e8f * (1.0f + 0.001f * static_cast<float>(i));
  const float sign = i % 2 ? -1.0f : 1.0f;
  if (rank == 0) return sign * big;
  if (rank == 1) return -sign * big;
  return 1.0f + 0.25f * static_cast<float>(i);
}

// Segments 0 and 3 come from all three ranks (so their order shows), segment 1 not from rank 1,
// segment 5 not from rank 0, segment 4 from none; segment 2 is empty.
bool has(int rank, size_t s) {
  return s != 4 && !(s == 1 && rank == 1) && !(s == 5 && rank == 0);
}

TEST(Distributed, MpiRanksSumInRankOrderBitForBit) {
  if (!Distributed::launched_by_mpi()) {
    if (kiln::testing::run_shell("command -v mpirun >/dev/null 2>&1").exit_code != 0)
      GTEST_SKIP() << "mpirun not found (Debian openmpi-bin)";
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    std::string cmd =
        "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" mpirun -np 3 --oversubscribe "
        "--bind-to none --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include "
        "lo";
    if (geteuid() == 0) cmd += " --allow-run-as-root";
    const auto r = kiln::testing::run_shell(
        cmd + " " + self +
        " --gtest_color=no --gtest_filter=Distributed.MpiRanksSumInRankOrderBitForBit 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("[  PASSED  ] 1 test"), std::string::npos) << r.output;
    return;
  }
  Distributed& w = Distributed::world();
  ASSERT_EQ(w.size(), 3);
  const std::vector<size_t> ends = {5, 13, 13, 30, 34, 41};
  const size_t n = ends.back();
  std::vector<float> data(n);
  std::vector<uint8_t> present(ends.size());
  for (size_t s = 0, at = 0; s < ends.size(); at = ends[s++]) {
    present[s] = has(w.rank(), s);
    for (size_t i = at; i < ends[s]; ++i) data[i] = present[s] ? input(w.rank(), i) : 0.0f;
  }
  w.sum_in_rank_order(data.data(), ends, present, /*slice_floats=*/7);
  size_t order_mattered = 0;
  for (size_t s = 0, at = 0; s < ends.size(); at = ends[s++]) {
    bool any = false;
    for (int r = 0; r < 3; ++r) any |= has(r, s);
    EXPECT_EQ(present[s] != 0, any) << "segment " << s;
    for (size_t i = at; i < ends[s]; ++i) {
      // The plain loop: the first contributor's value, then plus each later one's.
      auto sum = [&](std::vector<int> order) {
        float acc = 0;
        bool first = true;
        for (int r : order) {
          if (!has(r, s)) continue;
          acc = first ? input(r, i) : acc + input(r, i);
          first = false;
        }
        return acc;
      };
      const float expect = sum({0, 1, 2}), reverse = sum({2, 1, 0});
      if (any) {
        EXPECT_EQ(std::memcmp(&data[i], &expect, sizeof(float)), 0)
            << "element " << i << ": " << data[i] << " vs " << expect;
      }
      order_mattered += expect != reverse;
    }
  }
  EXPECT_GT(order_mattered, 0u);  // the inputs can tell rank order from another order
  // The other collectives.
  EXPECT_EQ(w.all_gather(static_cast<double>(w.rank()) + 0.5),
            (std::vector<double>{0.5, 1.5, 2.5}));
  EXPECT_TRUE(w.any(w.rank() == 2));
  EXPECT_FALSE(w.any(false));
  std::string bytes = w.rank() == 0 ? std::string("from rank 0") : std::string();
  w.broadcast(bytes);
  EXPECT_EQ(bytes, "from rank 0");
  EXPECT_NO_THROW(check_same_on_all_ranks(w, 42, "a value"));
  try {
    check_same_on_all_ranks(w, w.rank() == 1 ? 1 : 2, "the weights");
    ADD_FAILURE() << "no error for differing values";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the weights on rank(s) 1 differs from rank 0's"),
              std::string::npos)
        << e.what();
  }
  w.finalize();
}

}  // namespace
}  // namespace kiln::train
