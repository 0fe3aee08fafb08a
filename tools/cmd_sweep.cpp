// kiln sweep --space space.json [--trials N] [--parallel P] [--search random|grid] [--seed S]
//            [--metric NAME] [--mode max|min] [--asha [--grace-epochs R] [--eta E]]
//            -o SWEEP_DIR -- <kiln train arguments>
// A hyper-parameter sweep: each trial is a `kiln train` process with the shared arguments after
// `--` plus its own values from the search space (train/sweep_space.h), trained into the ordinary
// run directory SWEEP_DIR/trial-NNN; up to P run at once; with --asha bad trials stop early at
// rungs (train/asha.h). SWEEP_DIR/sweep.json records every event: running the same command again
// after a crash or kill -9 resumes the sweep. At the end: a table of the trials, and the best
// trial's model as SWEEP_DIR/best.kiln.
// Under mpirun (train/sweep_mpi.h), rank 0 runs this command's sweep and every rank, rank 0
// included, trains up to P trials; the other ranks only run the trials rank 0 sends them.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "core/io/atomic_file.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/interrupt.h"
#include "tools/text_table.h"
#include "train/distributed.h"
#include "train/run_lock.h"
#include "train/sweep_mpi.h"
#include "train/sweep_runner.h"
#include "train/sweep_space.h"
#include "train/trial_process.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

ArgParser make_parser() {
  ArgParser p("sweep",
              "--space space.json [--trials N] [--parallel P] [--search random|grid] [--seed S] "
              "[--metric NAME --mode max|min] [--asha [--grace-epochs R] [--eta E]] -o SWEEP_DIR "
              "-- <kiln train arguments>");
  p.option("space", "the search space (JSON; see below)")
      .option("trials", "number of trials (random: required; grid: default every combination)")
      .option("parallel",
              "trials trained at once (under mpirun: on each rank), each a kiln train process", "",
              "1")
      .option("search", "random or grid", "", "random")
      .option("seed", "seed of the random search", "", "0")
      .option("metric", "eval field the trials are compared on (default: the runs' --metric)")
      .option("mode", "max or min: whether a larger --metric is better", "", "max")
      .flag("asha", "stop bad trials early (asynchronous successive halving over epochs)")
      .option("grace-epochs", "ASHA: the first rung, in epochs", "", "1")
      .option("eta", "ASHA: reduction factor; the top 1/eta at a rung continue", "", "3")
      .option("output", "the sweep directory (the same one resumes an interrupted sweep)", "-o");
  return p;
}

const char* const kSpaceHelp =
    "\nThe space is a JSON object keyed by kiln train flags (without dashes):\n"
    "  {\"learning-rate\": {\"type\": \"loguniform\", \"low\": 1e-5, \"high\": 1e-2},\n"
    "   \"warmup-ratio\": {\"type\": \"uniform\", \"low\": 0, \"high\": 0.2, \"points\": 3},\n"
    "   \"seed\": {\"type\": \"int\", \"low\": 1, \"high\": 5},\n"
    "   \"lr-scheduler\": {\"type\": \"choice\", \"values\": [\"linear\", \"cosine\"]}}\n"
    "\"points\" sets how many values a grid search takes from a (log)uniform range.\n"
    "The kiln train arguments need --eval (or --eval-split); their --epochs is every trial's full\n"
    "budget. Without --threads, each trial gets the cores divided by --parallel. Each trial is a "
    "run\n"
    "directory (see kiln runs SWEEP_DIR); its output goes to SWEEP_DIR/trial-NNN.log.\n"
    "Under mpirun -np N, rank 0 schedules and each rank trains up to P trials (the cores of a\n"
    "machine are divided among its ranks too); SWEEP_DIR and the data must be on a file system\n"
    "every rank shares. The results are the same as without MPI, whatever N and P.\n";

int64_t at_least(const ArgParser& p, const std::string& name, int64_t min) {
  const int64_t v = p.get_int(name);
  if (v < min) throw UsageError("--" + name + " must be at least " + std::to_string(min));
  return v;
}

// The value of `--name V` / `--name=V` in kiln train arguments (the last one wins, as there).
std::optional<std::string> train_flag(const std::vector<std::string>& args,
                                      const std::string& name) {
  std::optional<std::string> v;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--" + name && i + 1 < args.size()) v = args[i + 1];
    if (args[i].rfind("--" + name + "=", 0) == 0) v = args[i].substr(name.size() + 3);
  }
  return v;
}

bool has_train_flag(const std::vector<std::string>& args, const std::string& name) {
  for (const auto& a : args)
    if (a == "--" + name || a.rfind("--" + name + "=", 0) == 0) return true;
  return false;
}

// kiln train's own --help, to check the space's names before any trial starts (run as a trial is:
// under mpirun, not as an MPI rank).
std::string train_help(const std::string& exe) {
  return train::run_and_capture({exe, "train", "--help"});
}

void check_train_args(const std::vector<std::string>& train_args, const train::SearchSpace& space,
                      const std::string& exe, bool asha) {
  for (const char* own : {"output", "resume", "stop-after-epochs", "stop-after-steps"})
    if (has_train_flag(train_args, own))
      throw UsageError(std::string("the kiln train arguments must not set --") + own +
                       ": the sweep sets it for each trial");
  for (const auto& a : train_args)
    if (a == "-o") throw UsageError("the kiln train arguments must not set -o: the sweep sets it");
  // --eval-split holds out part of --train (chosen by the train --seed, so every trial with the
  // same seed sees the same split); either way each trial has an evaluation to be compared on.
  if (!has_train_flag(train_args, "eval") && !has_train_flag(train_args, "eval-split"))
    throw UsageError(
        "the kiln train arguments need --eval FILE or --eval-split F: trials are compared on it");
  const std::string help = train_help(exe);
  for (const auto& param : space.params) {
    if (has_train_flag(train_args, param.name))
      throw UsageError("--" + param.name + " is both in the space and in the kiln train arguments");
    if (help.find("--" + param.name + " ") == std::string::npos &&
        help.find("--" + param.name + "\n") == std::string::npos &&
        help.find("--" + param.name + ",") == std::string::npos)
      throw UsageError("the space's \"" + param.name +
                       "\" is not a kiln train flag (see kiln train --help)");
    if (asha && param.name == "epochs")
      throw UsageError(
          "with --asha the trials share one --epochs budget: take \"epochs\" out of the space");
  }
}

void copy_file_atomically(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  KILN_CHECK(in, from, ": cannot open");
  io::atomic_write_file(to, [&](io::FileSink& out) {
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() > 0) out.write(buf.data(), static_cast<size_t>(in.gcount()));
    }
    KILN_CHECK(in.eof(), from, ": read error");
  });
}

std::string params_text(const nlohmann::ordered_json& params) {
  std::string out;
  for (const auto& [k, v] : params.items())
    out += (out.empty() ? "" : " ") + k + "=" + train::param_text(v);
  return out;
}

void print_table(const train::SweepState& state, std::optional<size_t> best) {
  TextTable table(
      {"trial", "params", state.metric.empty() ? "metric" : state.metric, "epochs", "status"});
  for (size_t i = 0; i < state.trials.size(); ++i) {
    const auto& t = state.trials[i];
    table.add_row({t.name + (best == i ? " *" : ""), params_text(t.params),
                   t.metric ? train::param_text(*t.metric) : "-", std::to_string(t.epochs),
                   t.status});
  }
  std::cout << table.render();
}

// `world`: under mpirun, rank 0's world (its trials also run on the other ranks); else nullptr.
int run_sweep(const std::vector<std::string>& all_args, train::Distributed* world) {
  const auto dashes = std::find(all_args.begin(), all_args.end(), "--");
  const std::vector<std::string> args(all_args.begin(), dashes);
  std::vector<std::string> train_args;
  if (dashes != all_args.end()) train_args.assign(dashes + 1, all_args.end());
  ArgParser p = make_parser();
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text() << kSpaceHelp;
    return 0;
  }
  if (dashes == all_args.end())
    throw UsageError("give the kiln train arguments after --: kiln sweep ... -- --task ...");
  const std::string dir = fs::absolute(p.get("output")).lexically_normal().string();
  const std::string space_path = p.get("space");
  const train::SearchSpace space = train::read_search_space(space_path);
  const std::string search = p.get("search");
  if (search != "random" && search != "grid")
    throw UsageError("--search must be random or grid, got '" + search + "'");
  const std::string mode = p.get("mode");
  if (mode != "max" && mode != "min")
    throw UsageError("--mode must be max or min, got '" + mode + "'");
  const int64_t parallel = at_least(p, "parallel", 1);
  const auto seed = static_cast<uint64_t>(p.get_int("seed"));

  std::vector<nlohmann::ordered_json> trial_params;
  if (search == "grid") {
    trial_params = train::grid_params(space);
    if (p.given("trials")) {
      const int64_t n = at_least(p, "trials", 1);
      if (n > static_cast<int64_t>(trial_params.size()))
        throw UsageError("--trials " + std::to_string(n) + " but the grid has only " +
                         std::to_string(trial_params.size()) + " combinations");
      trial_params.resize(static_cast<size_t>(n));
    }
  } else {
    if (!p.given("trials")) throw UsageError("a random search needs --trials N");
    const int64_t n = at_least(p, "trials", 1);
    if (n > 100000) throw UsageError("--trials must be at most 100000");
    for (int64_t i = 0; i < n; ++i)
      trial_params.push_back(train::sample_params(space, seed, static_cast<uint64_t>(i)));
  }

  int64_t max_epochs = 3;  // kiln train's default --epochs
  if (auto e = train_flag(train_args, "epochs")) {
    try {
      max_epochs = std::stoll(*e);
    } catch (const std::exception&) {
      throw UsageError("--epochs in the kiln train arguments must be an integer, got '" + *e + "'");
    }
  }
  std::optional<train::AshaConfig> asha;
  if (p.get_flag("asha")) {
    asha = train::AshaConfig{at_least(p, "grace-epochs", 1), max_epochs, at_least(p, "eta", 2),
                             mode == "max"};
    try {
      train::check_asha_config(*asha);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  } else if (p.given("grace-epochs") || p.given("eta")) {
    throw UsageError("--grace-epochs and --eta apply with --asha");
  }
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  check_train_args(train_args, space, exe, asha.has_value());

  nlohmann::ordered_json space_json = nlohmann::ordered_json::parse(std::ifstream(space_path));
  nlohmann::ordered_json config = {{"space", space_json},
                                   {"search", search},
                                   {"seed", seed},
                                   {"trials", trial_params.size()},
                                   {"metric", p.get_optional("metric").value_or("")},
                                   {"mode", mode},
                                   {"asha", nullptr},
                                   {"train_args", train_args}};
  if (asha)
    config["asha"] = {
        {"grace_epochs", asha->min_epochs}, {"eta", asha->eta}, {"max_epochs", asha->max_epochs}};

  fs::create_directories(dir);
  train::RunLock lock(dir);  // one sweep per directory at a time
  auto state = train::read_sweep_state(dir);
  if (state) {
    // Compared as plain JSON: key order is not a difference.
    const nlohmann::json recorded = nlohmann::json::parse(state->config.dump());
    for (const auto& [key, value] : config.items())
      if (!recorded.contains(key) || recorded[key] != nlohmann::json::parse(value.dump()))
        throw Error(dir + " holds a sweep started with another " + key + " (" +
                    (recorded.contains(key) ? recorded[key].dump() : "none") +
                    "); run the same command to resume it, or choose another -o");
    std::cerr << ("kiln sweep: resuming " + dir + "\n");
  } else {
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().filename() != "train.lock")
        throw Error(dir + " is not empty and holds no sweep.json; choose another -o");
    state.emplace();
    state->config = config;
    for (size_t i = 0; i < trial_params.size(); ++i) {
      train::SweepTrial t;
      t.id = static_cast<int64_t>(i);
      char name[32];
      std::snprintf(name, sizeof name, "trial-%03zu", i);
      t.name = name;
      t.params = trial_params[i];
      state->trials.push_back(std::move(t));
    }
    train::write_sweep_state(dir, *state);
  }

  train::SweepSetup setup;
  setup.dir = dir;
  setup.exe = exe;
  setup.train_args = train_args;
  // Trials share the cores: without --threads each gets its part (kiln's results do not depend
  // on the thread count). Under mpirun the ranks on rank 0's machine share them too, and the
  // other machines are taken to be alike.
  if (!has_train_flag(train_args, "threads")) {
    const auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
    const int64_t per_machine = parallel * (world ? world->local_size() : 1);
    setup.train_args.push_back("--threads=" +
                               std::to_string(std::max<int64_t>(1, cores / per_machine)));
  }
  setup.parallel = parallel;
  std::unique_ptr<train::TrialLauncher> launcher;
  if (world) {
    launcher = train::make_mpi_launcher(*world, parallel);
    setup.launcher = launcher.get();
    std::cerr << ("kiln sweep: " + std::to_string(world->size()) + " MPI ranks, up to " +
                  std::to_string(parallel) + " trial(s) on each\n");
  }
  setup.max_epochs = max_epochs;
  setup.asha = asha;
  setup.metric = p.get_optional("metric").value_or("");
  setup.maximize = mode == "max";
  // One write per line: under mpirun, rank 0's stdout and stderr reach the terminal through
  // mpirun, which interleaves them write by write.
  setup.message = [](const std::string& line) { std::cerr << ("kiln sweep: " + line + "\n"); };
  bool complete = false;
  int stopped_by = 0;
  {
    InterruptGuard interrupt(
        "\nkiln sweep: stopping the trials (each writes a checkpoint); run the same command to "
        "resume\n");
    setup.stop_requested = [] { return InterruptGuard::received() != 0; };
    complete = train::run_sweep(setup, *state);
    stopped_by = InterruptGuard::received();
  }
  if (!complete) {
    std::cerr << ("kiln sweep: stopped; run the same command to resume " + dir + "\n");
    return exit_status_for_signal(stopped_by);
  }
  const auto best = train::best_trial(*state, setup.maximize);
  if (best) {
    const auto& t = state->trials[*best];
    copy_file_atomically(dir + "/" + t.name + "/best.kiln", dir + "/best.kiln");
    state->best = t.name;
    train::write_sweep_state(dir, *state);
  }
  print_table(*state, best);
  std::cout.flush();  // the table, before the line below
  if (!best) throw Error("every trial failed (see the trial-NNN.log files in " + dir + ")");
  std::cerr << ("kiln sweep: best " + state->trials[*best].name + " (" + state->metric + " " +
                train::param_text(*state->trials[*best].metric) + "); model: " + dir +
                "/best.kiln\n");
  return 0;
}

int worker_stop_requested() {
  return InterruptGuard::received();
}

// Under mpirun: rank 0 runs the sweep, the other ranks the trials it sends them, and an error on
// any rank ends the whole job at once (MPI_Abort), as a worker that dies does (mpirun ends the
// job), so no rank is left waiting. A single process runs as before.
int run_sweep_command(const std::vector<std::string>& args) {
  if (!train::Distributed::launched_by_mpi()) return run_sweep(args, nullptr);
  train::Distributed& world = train::Distributed::world();
  const std::string who = "kiln sweep (rank " + std::to_string(world.rank()) + " of " +
                          std::to_string(world.size()) + ")";
  try {
    int rc = 0;
    if (world.rank() == 0) {
      rc = run_sweep(args, &world);
    } else {
      InterruptGuard interrupt("");
      rc = train::run_sweep_worker(world, worker_stop_requested);
    }
    if (rc != 0) {
      // Stopped by a signal, this rank's trials checkpointed: leave unfinalized, and mpirun ends
      // the job (quietly when it sent the signal itself; no MPI_Abort banner from every rank).
      std::cout.flush();
      std::cerr.flush();
      std::_Exit(rc);
    }
    if (world.rank() == 0) train::release_sweep_workers(world);
    world.finalize();
    return rc;
  } catch (const UsageError& e) {
    std::cerr << (who + ": " + e.what() + "\n(see 'kiln sweep --help')\n") << std::flush;
    world.abort(2);
  } catch (const std::exception& e) {
    std::cerr << (who + ": error: " + e.what() + "\n") << std::flush;
    world.abort(1);
  }
}

KILN_COMMAND("sweep", "hyper-parameter sweeps of kiln train, with ASHA early stopping",
             run_sweep_command);

}  // namespace
}  // namespace kiln::cli
