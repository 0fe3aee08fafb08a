// `mpirun -np 2 kiln sweep` (train/sweep_mpi.h) on loopback, on a tiny classifier (about 0.1 s a
// session): a worker rank that dies when its first trial is sent to it ends the whole job within
// seconds; the same command run again resumes the sweep on both ranks and ends with the very
// table, state and best model of the same sweep run by one process, one trial at a time. Skipped
// without Open MPI's mpirun (Debian openmpi-bin).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"
#include "tests/cli/sweep_fixture.h"

namespace kiln::testing {
namespace {

// Texts whose label is whether they start with "good"; 8 updates an epoch. The four learning
// rates give four different eval losses at the rung (epoch 1): some trials stop there, others go
// on (here: trial-002 stops, and the best is trial-003).
void write_fixture(const TempDir& dir) {
  write_good_dull_fixture(dir, 16, 4);
  std::ofstream(dir / "space.json")
      << R"({"learning-rate": {"type": "choice", "values": [0.01, 0, 0.03, 0.001]}})";
}

std::string sweep_args(const TempDir& dir, const std::string& out) {
  return "sweep --space " + (dir / "space.json") +
         " --search grid --asha --grace-epochs 1 --eta 2 --metric loss --mode min -o " +
         (dir / out) + " -- --task sequence-classification --config " + (dir / "config.json") +
         " --tokenizer " + (dir / "vocab.txt") + " --train " + (dir / "train.jsonl") + " --eval " +
         (dir / "eval.jsonl") +
         " --max-length 8 --per-device-batch-size 2 --epochs 2 --logging-steps 8 --threads 1";
}

// The final table: its lines are the only ones starting with "trial" (progress lines start with
// "kiln sweep:", MPI's with other words).
std::string table_of(const std::string& output) {
  std::istringstream lines(output);
  std::string line, table;
  while (std::getline(lines, line))
    if (line.rfind("trial", 0) == 0) table += line + "\n";
  return table;
}

TEST(MpiSweepCli, ADeadWorkerEndsTheJobAndTwoRanksResumeToTheTableOfOneProcess) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (Debian openmpi-bin)";
  TempDir tmp;
  write_fixture(tmp);
  // The reference: one process, one trial at a time.
  const auto one = run_kiln(sweep_args(tmp, "one"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const auto expected = nlohmann::json::parse(slurp(tmp / "one/sweep.json"));
  int stopped = 0, finished = 0;
  for (const auto& t : expected["trials"]) {
    stopped += t["status"] == "stopped";
    finished += t["status"] == "finished";
  }
  ASSERT_TRUE(stopped > 0 && finished > 0) << expected.dump(1);  // ASHA made decisions both ways

  // Rank 1 is killed (SIGKILL) when rank 0 sends it trial-001: mpirun ends the job, rank 0
  // included (SIGTERM a second after the death; rank 0 stops its trial and exits).
  const auto start = std::chrono::steady_clock::now();
  const auto killed = run_mpi_kiln(2, sweep_args(tmp, "mpi"), "KILN_TEST_SWEEP_KILL_RANK=1 ");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(killed.exit_code, 0) << killed.output;
  EXPECT_NE(killed.output.find("trial-001: training to epoch 1 on rank 1"), std::string::npos)
      << killed.output;
  EXPECT_NE(killed.output.find("exited on signal 9"), std::string::npos) << killed.output;
  EXPECT_LT(seconds, 30.0) << killed.output;  // a hang would run into the test's timeout

  // The same command again: rank 0 resumes the sweep (trial-001 was left "running") and both
  // ranks train; the results are bit for bit those of one process.
  const auto two = run_mpi_kiln(2, sweep_args(tmp, "mpi"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("kiln sweep: resuming"), std::string::npos) << two.output;
  EXPECT_NE(two.output.find("on rank 1 {"), std::string::npos) << two.output;
  EXPECT_EQ(table_of(two.output), table_of(one.output)) << two.output;
  const auto got = nlohmann::json::parse(slurp(tmp / "mpi/sweep.json"));
  ASSERT_EQ(got["trials"].size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const auto& a = expected["trials"][i];
    const auto& b = got["trials"][i];
    EXPECT_EQ(b["params"], a["params"]) << i;
    EXPECT_EQ(b["status"], a["status"]) << i;
    EXPECT_EQ(b["epochs"], a["epochs"]) << i;
    EXPECT_EQ(b["metric"].get<double>(), a["metric"].get<double>()) << i;
  }
  // One rung: its results in trial order, as one process reports them.
  EXPECT_EQ(got["reports"], expected["reports"]);
  EXPECT_EQ(got["best"], expected["best"]);
  // The best model's weights, bit for bit (its metadata names its own run directory).
  const auto a = nn::load_safetensors(tmp / "one/best.kiln");
  const auto b = nn::load_safetensors(tmp / "mpi/best.kiln");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    ASSERT_EQ(t.nbytes(), b.at(name).nbytes()) << name;
    EXPECT_EQ(
        std::memcmp(t.contiguous().raw_data(), b.at(name).contiguous().raw_data(), t.nbytes()), 0)
        << name;
  }
}

}  // namespace
}  // namespace kiln::testing
