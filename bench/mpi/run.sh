#!/usr/bin/env bash
# Data-parallel scaling on one machine (issue 15, item 3): the same training run as 2 MPI ranks x 1
# thread (`mpirun -np 2 kiln train`, one micro-batch per rank per update) and as 1 process x 2
# threads (--gradient-accumulation-steps 2), in alternating pairs. Both compute the same updates:
# the script checks that their final checkpoints are bit-identical. Prints wall time, updates/s and
# each process's peak RSS.
#   bench/mpi/run.sh [PAIRS=3]
# Environment: KILN (default build/tools/kiln), SUBSET (training lines, default 512), CONFIG (a
# BERT config.json, default bench/train/sst2-bert-mini.config.json: 2 layers, hidden 128), BS
# (per-rank micro-batch, default 16), MAXLEN (default 64).
# Outputs go to bench/.scratch/mpi/ (git-ignored).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHARED="$(cd "$ROOT/../shared" && pwd)"
PAIRS="${1:-3}"
KILN="$(realpath "${KILN:-$ROOT/build/tools/kiln}")"
SUBSET="${SUBSET:-512}"
CONFIG="${CONFIG:-$ROOT/bench/train/sst2-bert-mini.config.json}"
BS="${BS:-16}"
MAXLEN="${MAXLEN:-64}"
OUT="$ROOT/bench/.scratch/mpi"
[[ -x "$KILN" ]] || { echo "no kiln binary at $KILN" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpirun not found (Debian openmpi-bin)" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"
head -n "$SUBSET" "$SHARED/data/sst2/train.jsonl" > "$OUT/train.jsonl"
MPI=(mpirun -np 2 --oversubscribe --bind-to none --mca btl self,tcp --mca btl_tcp_if_include lo
  --mca oob_tcp_if_include lo)
[[ $(id -u) -eq 0 ]] && MPI+=(--allow-run-as-root)
common() {  # common <run dir> <accumulation> <threads>
  echo train --task sequence-classification --train "$OUT/train.jsonl" --config "$CONFIG" \
    --tokenizer "$SHARED/tokenizers/bert-base-cased" --max-length "$MAXLEN" --epochs 1 \
    --per-device-batch-size "$BS" --learning-rate 5e-4 --seed 1 --logging-steps 1000 \
    --output "$1" --gradient-accumulation-steps "$2" --threads "$3"
}
# One process's line: "<elapsed s> <peak RSS KB>" from GNU time, per process.
timed() { /usr/bin/time -f "%e %M" -a -o "$1" "${@:2}"; }
updates=$(( (SUBSET + 2 * BS - 1) / (2 * BS) ))
# Training seconds (metrics.jsonl elapsed_s: no start-up, no data loading) and, for the ranks,
# the seconds rank 0 spent in the gradient sum (gradient_sum_s, waiting for rank 1 included).
train_s() { python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(r[-1]["elapsed_s"], sum(x.get("gradient_sum_s", 0) for x in r))' "$1/metrics.jsonl"; }
printf "| pair | 1 rank x 2 threads: wall s / training s (updates/s) | 2 ranks x 1 thread: wall s / training s (updates/s) / gradient sum s | training-time ratio 2x1 / 1x2 | peak RSS MB 1x2 | peak RSS MB per rank 2x1 |\n| --- | --- | --- | ---: | ---: | --- |\n"
for i in $(seq 1 "$PAIRS"); do
  for mode in single mpi; do
    rm -rf "$OUT/$mode-$i"; : > "$OUT/$mode-$i.time"
    start=$(date +%s.%N)
    if [[ $mode == single ]]; then
      timed "$OUT/$mode-$i.time" "$KILN" $(common "$OUT/$mode-$i" 2 2) 2> "$OUT/$mode-$i.log"
    else
      "${MPI[@]}" /usr/bin/time -f "%e %M" -a -o "$OUT/$mode-$i.time" \
        "$KILN" $(common "$OUT/$mode-$i" 1 1) 2> "$OUT/$mode-$i.log"
    fi
    end=$(date +%s.%N)
    echo "$end - $start" | bc > "$OUT/$mode-$i.wall"
  done
  # Same tensors (weights and AdamW moments) and train state, byte for byte.
  python3 - "$OUT/single-$i" "$OUT/mpi-$i" <<'PY' || { echo "pair $i: checkpoints differ" >&2; exit 1; }
import sys, json, struct
def tensors(d):
    b = open(d + "/checkpoint/checkpoint.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}
def state(d):
    b = open(d + "/checkpoint/checkpoint.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n])["__metadata__"]["kiln.train_state"]
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
sys.exit(0 if a == b and state(sys.argv[1]) == state(sys.argv[2]) else 1)
PY
  s=$(cat "$OUT/single-$i.wall"); m=$(cat "$OUT/mpi-$i.wall")
  rs=$(awk '{printf "%.0f", $2/1024}' "$OUT/single-$i.time")
  rm_=$(awk '{printf "%s%.0f", (NR>1?", ":""), $2/1024}' "$OUT/mpi-$i.time")
  read -r ts _ < <(train_s "$OUT/single-$i")
  read -r tm gs < <(train_s "$OUT/mpi-$i")
  printf "| %d | %.2f / %.2f (%.2f) | %.2f / %.2f (%.2f) / %.2f | %.3f | %s | %s |\n" "$i" "$s" "$ts" \
    "$(echo "$updates / $ts" | bc -l)" "$m" "$tm" "$(echo "$updates / $tm" | bc -l)" "$gs" \
    "$(echo "$tm / $ts" | bc -l)" "$rs" "$rm_"
done
echo "($updates updates of $((2 * BS)) examples each; wall times include process start, data"
echo " loading and mpirun's start-up; final checkpoints bit-identical in every pair)"
