#!/usr/bin/env bash
# kiln sweep --asha against Ray Tune's ASHAScheduler on the same search space, trial count, epoch
# budget, rungs (grace 1 epoch, eta 3) and trial program (kiln train of the HAM10000 metadata MLP,
# lesion-grouped 80/20 split, balanced accuracy), one trial at a time on 1 thread, 3 search seeds.
# Both sides sample their own configurations (different random streams), so single seeds differ by
# luck; compare the spread. A third run per seed makes Ray replay kiln's sampled configurations in
# kiln's order, so that only the schedulers differ: every trial should stop at the same epoch.
# Prints one JSON line per run.
#   usage: bench/sweep/run.sh [KILN_BIN]   (Python with ray[tune]: $PYTHON, default /work/venv-bench)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kiln=$(realpath "${1:-$root/build/tools/kiln}")
python=${PYTHON:-/work/venv-bench/bin/python}
data=$root/../shared/data/ham10000/HAM10000_metadata_full.csv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo '{"model_type": "metadata-mlp", "meta_hidden": 32}' > "$work/mlp.json"
cat > "$work/space.json" <<'JSON'
{"learning-rate": {"type": "loguniform", "low": 1e-5, "high": 1e-1},
 "weight-decay": {"type": "loguniform", "low": 1e-5, "high": 1e-1},
 "per-device-batch-size": {"type": "choice", "values": [32, 64, 128, 256]}}
JSON
train=(--task image-classification --config "$work/mlp.json" --train "$data" --label-field dx
  --metadata-fields age,sex,localization --eval-split 0.2 --group-field lesion_id
  --class-weights balanced --lr-scheduler cosine --metric balanced_accuracy --threads 1 --seed 1)
trials=27 epochs=9
for seed in 1 2 3; do
  start=$(date +%s.%N)
  "$kiln" sweep --space "$work/space.json" --trials $trials --seed $seed --asha --grace-epochs 1 \
    --eta 3 -o "$work/kiln-$seed" -- "${train[@]}" --epochs $epochs > "$work/kiln-$seed.log" 2>&1
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  # The sweep table: trial, params, metric, epochs, status (the best trial is marked with *).
  awk -v seed=$seed -v wall="$wall" '
    $1 ~ /^trial-[0-9]+$/ { m = $(NF-2)
      e += $(NF-1); n++; if ($NF == "finished") f++; if (m > best) best = m }
    END { printf "{\"peer\": \"kiln sweep\", \"seed\": %d, \"trials\": %d, \"trial_epochs\": %d, \"wall_s\": %.1f, \"best_last\": %s, \"full_budget_trials\": %d}\n", seed, n, e, wall, best, f }' \
    "$work/kiln-$seed.log"
  "$python" "$here/ray_tune_asha.py" --kiln "$kiln" --trials $trials --epochs $epochs --grace 1 \
    --eta 3 --seed $seed --metric balanced_accuracy --space "$work/space.json" \
    --workdir "$work/ray-$seed" -- "${train[@]}" 2> "$work/ray-$seed.err" | tail -1
  "$python" "$here/ray_tune_asha.py" --kiln "$kiln" --trials $trials --epochs $epochs --grace 1 \
    --eta 3 --seed $seed --metric balanced_accuracy --space "$work/space.json" \
    --workdir "$work/replay-$seed" --replay "$work/kiln-$seed" -- "${train[@]}" \
    2> "$work/replay-$seed.err" | tail -1
done
