// `kiln sweep` end to end on a tiny classifier (vocabulary of 11 words, hidden 16, one layer: about
// 0.1 s a session): ASHA stops trials that do not learn (learning rate 0) at the first rung while
// trials that learn go on, the best trial's model is copied out, and a sweep killed with kill -9
// in the middle resumes from sweep.json and the trials' checkpoints to the very same results.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/cli/cli_util.h"
#include "tests/cli/sweep_fixture.h"

extern char** environ;

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

// Texts whose label is whether they start with "good"; a word-level vocabulary of their words.
void write_fixture(const TempDir& dir) {
  write_good_dull_fixture(dir, 48, 8);
  // Two rates that learn and two that cannot (0): on this fixture (3 epochs of 24 updates) both
  // rates reach eval accuracy 1.0 by epoch 2, the rung, where learning rate 0 stays at 0.5.
  std::ofstream(dir / "space.json")
      << R"({"learning-rate": {"type": "choice", "values": [0.005, 0, 0.007, 0]}})";
}

std::vector<std::string> sweep_args(const TempDir& dir, const std::string& out) {
  return {"sweep",
          "--space",
          dir / "space.json",
          "--search",
          "grid",
          "--asha",
          "--grace-epochs",
          "2",
          "--eta",
          "2",
          "-o",
          dir / out,
          "--",
          "--task",
          "sequence-classification",
          "--config",
          dir / "config.json",
          "--tokenizer",
          dir / "vocab.txt",
          "--train",
          dir / "train.jsonl",
          "--eval",
          dir / "eval.jsonl",
          "--max-length",
          "8",
          "--per-device-batch-size",
          "2",
          "--epochs",
          "3",
          "--logging-steps",
          "24",
          "--threads",
          "1"};
}

std::string shell_line(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args) line += " '" + a + "'";
  return line;
}

// A kiln process of the test's own, so that it can be killed with kill -9.
pid_t spawn_kiln(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all = {KILN_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, KILN_BIN, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

nlohmann::json state_of(const std::string& sweep) {
  return nlohmann::json::parse(slurp(sweep + "/sweep.json"), nullptr, false);
}

int sessions(const std::string& log) {
  const std::string text = slurp(log);
  int n = 0;
  for (size_t at = text.find("kiln sweep: running"); at != std::string::npos;
       at = text.find("kiln sweep: running", at + 1))
    ++n;
  return n;
}

TEST(SweepCli, AshaStopsTrialsThatDoNotLearnAndResumesAfterKill9) {
  TempDir tmp;
  write_fixture(tmp);
  // ---- an uninterrupted sweep ----
  const auto r = run_kiln(shell_line(sweep_args(tmp, "sweep")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto done = state_of(tmp / "sweep");
  ASSERT_EQ(done["trials"].size(), 4u) << done.dump(1);
  const char* expect_status[] = {"finished", "stopped", "finished", "stopped"};
  const int expect_epochs[] = {3, 2, 3, 2};  // 10 trial-epochs instead of 12
  for (int i = 0; i < 4; ++i) {
    const auto& t = done["trials"][i];
    EXPECT_EQ(t["status"], expect_status[i]) << t.dump();
    EXPECT_EQ(t["epochs"], expect_epochs[i]) << t.dump();
    // Each trial is an ordinary run directory with its eval metric in metrics.jsonl.
    EXPECT_TRUE(fs::exists(tmp / ("sweep/" + t["name"].get<std::string>() + "/manifest.json")));
  }
  EXPECT_EQ(done["metric"], "accuracy");  // the runs' own selection metric
  EXPECT_EQ(done["trials"][0]["metric"], 1.0);
  EXPECT_EQ(done["trials"][1]["metric"], 0.5);
  ASSERT_EQ(done["reports"].size(), 4u);  // one result per trial at the rung (epoch 2)
  EXPECT_EQ(done["best"], "trial-000");
  EXPECT_EQ(slurp(tmp / "sweep/best.kiln"), slurp(tmp / "sweep/trial-000/best.kiln"));
  // The table: trial, params, metric, epochs, status.
  EXPECT_NE(r.output.find("trial-000 *"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("learning-rate=0.005"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stopped"), std::string::npos) << r.output;
  // A promoted trial went on with --resume from its own run directory.
  EXPECT_NE(slurp(tmp / "sweep/trial-000.log").find("train --resume"), std::string::npos);
  // kiln runs lists the trials.
  const auto runs = run_kiln("runs " + (tmp / "sweep"));
  EXPECT_NE(runs.output.find("trial-003"), std::string::npos) << runs.output;

  // ---- the same sweep killed with kill -9 while trial-002 trains, then run again ----
  const pid_t pid = spawn_kiln(sweep_args(tmp, "killed"), tmp / "killed.log");
  ASSERT_GT(pid, 0);
  bool killed = false;
  for (int i = 0; i < 3000 && !killed; ++i) {  // 30 s at most
    const auto s = state_of(tmp / "killed");
    if (s.is_object() && s["trials"][2]["status"] == "running") {
      ASSERT_EQ(::kill(pid, SIGKILL), 0);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(killed) << slurp(tmp / "killed.log");
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << slurp(tmp / "killed.log");
  // The trial in flight got SIGTERM when the sweep died; the restarted sweep waits for its lock.
  const auto again = run_kiln(shell_line(sweep_args(tmp, "killed")));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("resuming"), std::string::npos) << again.output;
  const auto resumed = state_of(tmp / "killed");
  for (int i = 0; i < 4; ++i) {
    const auto& a = done["trials"][i];
    const auto& b = resumed["trials"][i];
    EXPECT_EQ(b["status"], a["status"]) << i;
    EXPECT_EQ(b["epochs"], a["epochs"]) << i;
    // Bit-exact: kiln train's --resume continues the very same computation.
    EXPECT_EQ(b["metric"].get<double>(), a["metric"].get<double>()) << i;
  }
  EXPECT_EQ(resumed["best"], "trial-000");
  // Trials that had ended before the kill were not trained again: two sessions each at most.
  EXPECT_EQ(sessions(tmp / "killed/trial-000.log"), 2);
  EXPECT_EQ(sessions(tmp / "killed/trial-001.log"), 1);
}

TEST(SweepCli, BadSpacesAndArgumentsAreErrorsNamingTheField) {
  TempDir tmp;
  write_fixture(tmp);
  auto sweep_with_space = [&](const std::string& space, const std::string& extra = "") {
    std::ofstream(tmp / "bad.json") << space;
    auto args = sweep_args(tmp, "bad");
    args[2] = tmp / "bad.json";
    return run_kiln(shell_line(args) + extra);
  };
  auto r = sweep_with_space(R"({"learning-rate": {"type": "loguniform", "low": 0, "high": 1}})");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("bad.json: learning-rate.low"), std::string::npos) << r.output;
  r = sweep_with_space(R"({"learning-rat": {"type": "choice", "values": [1]}})");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("\"learning-rat\" is not a kiln train flag"), std::string::npos)
      << r.output;
  r = sweep_with_space(R"({"seed": {"type": "choice", "values": [1]}})", " --seed 3");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--seed is both in the space and in the kiln train arguments"),
            std::string::npos)
      << r.output;
  r = sweep_with_space(R"({"seed": {"type": "uniform", "low": 1, "high": 2}})");  // grid
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("seed: a grid search needs \"points\""), std::string::npos) << r.output;
  r = run_kiln("sweep --space " + (tmp / "space.json") + " --trials 2 -o " + (tmp / "x") +
               " -- --task sequence-classification --train " + (tmp / "train.jsonl"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("need --eval"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "bad")) << "nothing is written before the arguments are checked";

  // Two trials at once (--parallel 2), with the decisions of one at a time whichever ends first:
  // trial-000 (learning rate 0) is the first at the rung, so it goes on, as trial-001 does (a
  // first-come ASHA would stop trial-000 whenever trial-001 got there first). The directory, run
  // again with another space, is refused.
  std::ofstream(tmp / "space.json")
      << R"({"learning-rate": {"type": "choice", "values": [0, 0.005]}})";
  auto parallel = sweep_args(tmp, "s");
  parallel.insert(parallel.begin() + 1, {"--parallel", "2"});
  r = run_kiln(shell_line(parallel));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto both = state_of(tmp / "s");
  ASSERT_EQ(both["trials"].size(), 2u);
  for (const auto& t : both["trials"]) {
    EXPECT_EQ(t["status"], "finished") << t.dump();
    EXPECT_EQ(t["epochs"], 3) << t.dump();
  }
  std::ofstream(tmp / "space.json") << R"({"learning-rate": {"type": "choice", "values": [1]}})";
  r = run_kiln(shell_line(sweep_args(tmp, "s")));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("started with another space"), std::string::npos) << r.output;
}

// --eval-split instead of --eval: each trial holds out part of --train (the same part, by the train
// --seed) and is compared on it. The metadata-only image classifier supports the split; the
// sequence classifier does not, and its trial's refusal reaches the sweep's error.
TEST(SweepCli, TrialsCanBeComparedOnAnEvalSplitOfTheTrainingFile) {
  TempDir tmp;
  std::string csv = "lesion,dx,age,sex\n";
  for (int i = 0; i < 24; ++i)
    csv += "L" + std::to_string(i / 3) + "," + (i % 2 ? "b" : "a") + "," +
           std::to_string(20 + 40 * (i % 2) + i % 4) + "," + (i % 2 ? "male" : "female") + "\n";
  std::ofstream(tmp / "meta.csv") << csv;
  std::ofstream(tmp / "mlp.json") << R"({"model_type": "metadata-mlp", "meta_hidden": 8})";
  std::ofstream(tmp / "space.json")
      << R"({"learning-rate": {"type": "choice", "values": [0.05, 0.01]}})";
  const std::vector<std::string> args = {"sweep",
                                         "--space",
                                         tmp / "space.json",
                                         "--search",
                                         "grid",
                                         "-o",
                                         tmp / "split",
                                         "--",
                                         "--task",
                                         "image-classification",
                                         "--config",
                                         tmp / "mlp.json",
                                         "--train",
                                         tmp / "meta.csv",
                                         "--label-field",
                                         "dx",
                                         "--metadata-fields",
                                         "age,sex",
                                         "--eval-split",
                                         "0.25",
                                         "--group-field",
                                         "lesion",
                                         "--epochs",
                                         "2",
                                         "--per-device-batch-size",
                                         "6",
                                         "--threads",
                                         "1"};
  const auto r = run_kiln(shell_line(args));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto state = state_of(tmp / "split");
  ASSERT_EQ(state["trials"].size(), 2u);
  for (const auto& t : state["trials"]) EXPECT_EQ(t["status"], "finished") << t.dump();
  EXPECT_TRUE(fs::exists(tmp / "split/best.kiln"));
  // Both trials were evaluated on the same held-out rows: two whole lesions of three rows.
  for (const char* trial : {"split/trial-000/manifest.json", "split/trial-001/manifest.json"}) {
    const auto manifest = nlohmann::json::parse(std::ifstream(tmp / trial));
    EXPECT_EQ(manifest["data"]["eval"]["examples"], 6) << trial;
  }

  write_fixture(tmp);
  auto seq = sweep_args(tmp, "seq");
  const auto eval = std::find(seq.begin(), seq.end(), "--eval");
  ASSERT_NE(eval, seq.end());
  *eval = "--eval-split";
  *(eval + 1) = "0.25";
  const auto refused = run_kiln(shell_line(seq));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("cannot split its training data"), std::string::npos)
      << refused.output;
}

}  // namespace
}  // namespace kiln::testing
