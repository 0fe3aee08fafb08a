#!/usr/bin/env bash
# kiln vs transformers on PyTorch, BART-base shape (seeded random weights), 2 threads: encoder
# (512 tokens), greedy (512 -> 60 new tokens, ms/token after the encoder), beam 4 (ms/step) and the
# training step (8 x 512 source, 128 target). PAIRS alternating process pairs per mode (the order
# inside a pair alternates), one configuration per process so each peak RSS is its own.
#   bench/bart/run.sh [PAIRS=3] [MODES="encoder greedy beam train"]
# Needs PyTorch + transformers from PyPI in $PY (default: /work/venv-bench/bin/python):
#   python3 -m venv /work/venv-bench && /work/venv-bench/bin/pip install torch transformers
# Output: bench/.scratch/bart_run.txt (raw lines) and, per mode, the medians and ratios.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
PAIRS="${1:-3}"
MODES="${2:-encoder greedy beam train}"
PY="${PY:-/work/venv-bench/bin/python}"
OUT="${OUT:-$ROOT/bench/.scratch/bart_run.txt}"
export OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}"
mkdir -p "$(dirname "$OUT")"
ninja -C "$BUILD" bench_bart_bench >/dev/null

runs_of() { [[ "$1" == train ]] && echo 3 || echo 3; }
kiln() { "$BUILD/bench/bench_bart_bench" --mode "$1" --runs "$(runs_of "$1")" --warmup 1; }
torch() { "$PY" "$ROOT/bench/bart/torch_bart.py" --mode "$1" --runs "$(runs_of "$1")" --warmup 1 2>/dev/null; }

: >"$OUT"
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) pairs=$PAIRS $(uname -m) $(nproc) cores" | tee -a "$OUT"
for mode in $MODES; do
  for ((i = 1; i <= PAIRS; ++i)); do
    if ((i % 2)); then kiln "$mode" | tee -a "$OUT"; torch "$mode" | tee -a "$OUT"
    else torch "$mode" | tee -a "$OUT"; kiln "$mode" | tee -a "$OUT"; fi
  done
done
"$PY" - "$OUT" <<'PY'
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) | {"who": l.split()[0]}
        for l in open(sys.argv[1]) if l.startswith(("kiln", "torch"))]
for mode in dict.fromkeys(r["mode"] for r in rows):
    fig = "median_ms" if mode in ("encoder", "train") else "per_token_ms"
    med = {w: statistics.median(float(r[fig]) for r in rows if r["mode"] == mode and r["who"] == w)
           for w in ("kiln", "torch")}
    rss = {w: max(float(r["peak_rss_mb"]) for r in rows if r["mode"] == mode and r["who"] == w)
           for w in ("kiln", "torch")}
    print(f"{mode}: {fig} kiln {med['kiln']:.1f} torch {med['torch']:.1f} "
          f"(torch/kiln {med['torch'] / med['kiln']:.2f}x); peak RSS MB kiln {rss['kiln']:.0f} torch {rss['torch']:.0f}")
PY
