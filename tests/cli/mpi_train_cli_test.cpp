// `mpirun -np 2 kiln train` (train/distributed.h) on loopback, on a tiny BERT with dropout on:
// two ranks with one micro-batch each must give weights bit-identical to one process accumulating
// two micro-batches; a resumed run must continue bit-exactly and refuse another rank count; a rank
// that fails must end the job quickly instead of leaving the others waiting. Skipped without
// Open MPI's mpirun (Debian openmpi-bin).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShared = KILN_SHARED_DIR;
const std::string kTokenizer = kShared + "/tokenizers/bert-base-cased";
const std::string kInspec = kShared + "/data/inspec/";

bool have_data() {
  return fs::exists(kTokenizer) && fs::exists(kInspec + "inspec_train.jsonl");
}

std::string head(const std::string& src, size_t n, const TempDir& dir, const std::string& name) {
  std::ifstream in(src);
  std::ofstream out(dir / name);
  std::string line;
  for (size_t i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
  return dir / name;
}

// Dropout stays at BERT's default 0.1, so the ranks must also draw the same masks.
std::string train_args(const TempDir& dir, const std::string& out, int accumulation) {
  std::ofstream(dir / "config.json")
      << R"({"model_type": "bert", "vocab_size": 28996, "hidden_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 64})";
  return "train --task token-classification --train " + (dir / "train.jsonl") + " --eval " +
         (dir / "eval.jsonl") + " --output " + out + " --config " + (dir / "config.json") +
         " --tokenizer " + kTokenizer +
         " --max-length 32 --learning-rate 1e-3 --threads 1 --seed 5 --epochs 1"
         " --per-device-batch-size 3 --logging-steps 1 --gradient-accumulation-steps " +
         std::to_string(accumulation);
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Checkpoint tensors (weights and optimizer moments) and train state of two runs, bit for bit.
void expect_same_checkpoint(const std::string& a_dir, const std::string& b_dir) {
  std::map<std::string, std::string> meta_a, meta_b;
  const auto a = nn::load_safetensors(a_dir + "/checkpoint/checkpoint.safetensors", &meta_a);
  const auto b = nn::load_safetensors(b_dir + "/checkpoint/checkpoint.safetensors", &meta_b);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.nbytes(), u.nbytes()) << name;
    EXPECT_EQ(std::memcmp(t.contiguous().raw_data(), u.contiguous().raw_data(), t.nbytes()), 0)
        << name << " differs between " << a_dir << " and " << b_dir;
  }
  EXPECT_EQ(meta_a["kiln.train_state"], meta_b["kiln.train_state"]);
}

TEST(MpiTrainCli, TwoRanksGiveTheWeightsOfOneProcessAccumulatingTwoMicroBatches) {
  if (!have_data()) GTEST_SKIP() << "no shared data";
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (Debian openmpi-bin)";
  TempDir tmp;
  // 14 examples in micro-batches of 3: 5 micro-batches, so the epoch ends with a group that only
  // rank 0 has a micro-batch of.
  head(kInspec + "inspec_train.jsonl", 14, tmp, "train.jsonl");
  head(kInspec + "inspec_validation.jsonl", 4, tmp, "eval.jsonl");
  auto one = run_kiln(train_args(tmp, tmp / "one", 2));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run_mpi_kiln(2, train_args(tmp, tmp / "two", 1));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  expect_same_checkpoint(tmp / "one", tmp / "two");
  // The same losses, gradient norms and eval metrics at every step.
  const auto m1 = read_jsonl(tmp / "one/metrics.jsonl"), m2 = read_jsonl(tmp / "two/metrics.jsonl");
  ASSERT_EQ(m1.size(), m2.size());
  ASSERT_EQ(m1.size(), 4u);  // 3 updates and the eval
  for (size_t i = 0; i < m1.size(); ++i)
    for (const char* key : {"step", "loss", "grad_norm", "lr", "eval"})
      EXPECT_EQ(m1[i].value(key, nlohmann::json()), m2[i].value(key, nlohmann::json()))
          << key << " of record " << i;
  const auto manifest = nlohmann::json::parse(std::ifstream(tmp / "two/manifest.json"));
  EXPECT_EQ(manifest["resolved"]["ranks"], 2);
  EXPECT_EQ(manifest["resolved"]["total_updates"], 3);

  // Stopped after 2 updates, then resumed: the same again. A single process may not resume it.
  auto part = run_mpi_kiln(2, train_args(tmp, tmp / "resumed", 1) + " --stop-after-steps 2");
  ASSERT_EQ(part.exit_code, 0) << part.output;
  auto alone = run_kiln("train --resume " + (tmp / "resumed"));
  EXPECT_EQ(alone.exit_code, 1) << alone.output;
  EXPECT_NE(alone.output.find("was trained by 2 MPI ranks; resume it with the same number "
                              "(mpirun -np 2 kiln train --resume), not 1"),
            std::string::npos)
      << alone.output;
  auto rest = run_mpi_kiln(2, "train --resume " + (tmp / "resumed"));
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  expect_same_checkpoint(tmp / "one", tmp / "resumed");
}

TEST(MpiTrainCli, ARankThatFailsEndsTheWholeJobWithinSeconds) {
  if (!have_data()) GTEST_SKIP() << "no shared data";
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (Debian openmpi-bin)";
  TempDir tmp;
  head(kInspec + "inspec_train.jsonl", 14, tmp, "train.jsonl");
  head(kInspec + "inspec_validation.jsonl", 4, tmp, "eval.jsonl");
  // Rank 1 throws after its first update while rank 0 waits for it in the second gradient sum.
  const auto start = std::chrono::steady_clock::now();
  auto r = run_mpi_kiln(2, train_args(tmp, tmp / "run", 1), "KILN_TEST_FAIL_RANK=1 ");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("kiln train (rank 1 of 2): error: KILN_TEST_FAIL_RANK: rank 1 fails on "
                          "purpose"),
            std::string::npos)
      << r.output;
  EXPECT_LT(seconds, 30.0) << r.output;  // about 2 s here; a hang would run into the timeout
}

}  // namespace
}  // namespace kiln::testing
