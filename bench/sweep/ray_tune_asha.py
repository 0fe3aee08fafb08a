"""The peer of `kiln sweep --asha`: Ray Tune's ASHAScheduler over the same space, trial count and
epoch budget, each trial an ordinary `kiln train` process (so both sides train identical models and
only the search differs). Prints one JSON line: best metric, total trial-epochs, wall seconds.

usage: ray_tune_asha.py --kiln BIN --trials N --epochs E --grace R --eta F --seed S --metric NAME
                        --space space.json --workdir DIR [--replay KILN_SWEEP_DIR]
                        -- <kiln train args without -o/--epochs>
--replay makes Ray evaluate the configurations that `kiln sweep` sampled, in its order, so that only
the schedulers differ: it then also says whether every trial stopped at the same epoch as in kiln.
"""
import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator


def ray_space(path):
    """kiln's space.json (loguniform/uniform/int/choice) as Ray Tune's sampling domains."""
    out = {}
    for name, p in json.load(open(path)).items():
        kind = p["type"]
        if kind == "loguniform":
            out[name] = tune.loguniform(p["low"], p["high"])
        elif kind == "uniform":
            out[name] = tune.uniform(p["low"], p["high"])
        elif kind == "int":
            out[name] = tune.randint(p["low"], p["high"] + 1)  # kiln's int range is inclusive
        elif kind == "choice":
            out[name] = tune.choice(p["values"])
        else:
            sys.exit(f"{path}: {name}: unknown type {kind}")
    return out


def die_with_parent():
    # The trial's kiln process must not outlive the Ray worker that ASHA stops.
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def make_trainable(kiln, train_args, epochs, metric, workdir):
    def trainable(config):
        run_dir = os.path.join(workdir, "trial-%d-%d" % (os.getpid(), time.monotonic_ns()))
        args = [kiln, "train", *train_args, "--epochs", str(epochs), "-o", run_dir]
        for name, value in config.items():
            args += ["--" + name, str(value)]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)
        metrics_path = os.path.join(run_dir, "metrics.jsonl")
        seen = 0
        try:
            while True:
                done = proc.poll() is not None
                lines = open(metrics_path).read().splitlines() if os.path.exists(metrics_path) else []
                for line in lines[seen:]:
                    record = json.loads(line)
                    if "eval" in record:
                        tune.report({metric: record["eval"][metric], "epoch": record["epoch"]})
                seen = len(lines)
                if done:
                    break
                time.sleep(0.02)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"kiln train failed ({proc.returncode}): {' '.join(args)}")

    return trainable


def main():
    argv = sys.argv[1:]
    split = argv.index("--")
    ap = argparse.ArgumentParser()
    for flag in ("--kiln", "--space", "--workdir", "--metric"):
        ap.add_argument(flag, required=True)
    for flag in ("--trials", "--epochs", "--grace", "--eta", "--seed"):
        ap.add_argument(flag, type=int, required=True)
    ap.add_argument("--replay")
    a = ap.parse_args(argv[:split])
    replayed = json.load(open(os.path.join(a.replay, "sweep.json")))["trials"] if a.replay else []
    train_args = argv[split + 1:]
    os.makedirs(a.workdir, exist_ok=True)
    start = time.time()
    # One trial at a time, like `kiln sweep --parallel 1` (each trial trains with --threads 1).
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        make_trainable(os.path.abspath(a.kiln), train_args, a.epochs, a.metric,
                       os.path.abspath(a.workdir)),
        param_space=ray_space(a.space),
        tune_config=tune.TuneConfig(
            metric=a.metric, mode="max", num_samples=a.trials,
            search_alg=BasicVariantGenerator(
                random_state=a.seed, points_to_evaluate=[t["params"] for t in replayed] or None),
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=a.epochs,
                                    grace_period=a.grace, reduction_factor=a.eta)),
        run_config=tune.RunConfig(storage_path=os.path.abspath(a.workdir), name="ray",
                                  verbose=0))
    results = tuner.fit()
    wall = time.time() - start
    trial_epochs = sum(len(r.metrics_dataframe) for r in results if r.metrics_dataframe is not None)
    best_last = results.get_best_result(metric=a.metric, mode="max", scope="last")
    best_all = results.get_best_result(metric=a.metric, mode="max", scope="all")
    def epochs_of(config):
        for r in results:
            if r.config == config:
                return 0 if r.metrics_dataframe is None else len(r.metrics_dataframe)
        return None

    summary = {
        "peer": "ray-tune " + ray.__version__, "seed": a.seed,
        "trials": len(results), "trial_epochs": trial_epochs, "wall_s": round(wall, 1),
        "best_last": best_last.metrics[a.metric],
        "best_any_epoch": float(best_all.metrics_dataframe[a.metric].max()),
        "best_config": best_all.config,
        "full_budget_trials": sum(1 for r in results if r.metrics_dataframe is not None
                                  and len(r.metrics_dataframe) >= a.epochs)}
    if replayed:
        summary["replay_of"] = a.replay
        summary["trials_stopped_at_kiln_epoch"] = sum(
            1 for t in replayed if epochs_of(t["params"]) == t["epochs"])
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
