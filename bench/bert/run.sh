#!/usr/bin/env bash
# kiln vs PyTorch vs ONNX Runtime on a BERT-base-shaped model (seeded random weights), 2 threads,
# all in one run so the ratios share the machine's load. One process per configuration, so each
# peak RSS belongs to that configuration alone.
#   bench/bert/run.sh [RUNS]      (default 10 timed runs after 2 warm-ups; training uses RUNS/2)
# Needs: python3-torch (Debian), onnxruntime-node under bench/.scratch:
#   npm install --prefix bench/.scratch --ignore-scripts onnxruntime-node
# (--ignore-scripts: its install script only fetches the optional CUDA provider from nuget.org,
# which this machine cannot reach; the CPU binaries ship in the npm package.)
# PyTorch is run with OPENBLAS_CORETYPE=Haswell (as the environment sets it) and unset; Debian's
# torch 1.13 does its fp32 GEMM through OpenBLAS (BLAS_INFO=generic -> libblas.so.3 = OpenBLAS
# pthread), so the core type matters to it; the table's ratio uses the faster of the two.
# Busy-waiting: on a shared, loaded machine, PyTorch's OpenMP workers and ORT's intra-op workers
# spin between ops and starve each other (measured 15:07 UTC at load ~6: torch 1x128 2817 ms
# spinning vs 230 ms with OMP_WAIT_POLICY=PASSIVE; ORT 238 vs 171 ms without spinning). So torch
# runs with OMP_WAIT_POLICY=${TORCH_WAIT:-PASSIVE} and ORT both with and without spinning; on an
# idle machine set TORCH_WAIT=ACTIVE to give torch its spinning default back.
# This script runs each peer once, minutes apart, so a drift of the host can swing one ratio by
# 5-15%; bench/bert/paired.sh repeats kiln and ORT in 20 alternating pairs for a closer call.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-perf}"
RUNS="${1:-10}"
export OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}"  # read by torch's libgomp only
TRAIN_RUNS=$(((RUNS + 1) / 2))
PY=/usr/bin/python3  # Debian's python3 carries python3-torch; a pyenv shim may shadow it
SCRATCH="$ROOT/bench/.scratch"
ONNX="$SCRATCH/bert.onnx"
OUT="${OUT:-$SCRATCH/bert_run.txt}"
# BEFORE=/path/to/bench_bert_bench (optional): a build of the same bench from an earlier tree, run
# as "kiln-before" in the same pass so before/after ratios share the load.
BEFORE="${BEFORE:-}"

[[ -d "$BUILD" ]] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD" bench_bert_bench >/dev/null
[[ -f "$ONNX" ]] || "$PY" "$ROOT/bench/bert/torch_bert.py" --export "$ONNX" 2>/dev/null

: >"$OUT"
note() { echo "$*" | tee -a "$OUT"; }
note "# $(date -u +%FT%TZ)  host load: $(cut -d' ' -f1-3 /proc/loadavg)  OPENBLAS_CORETYPE(env)=${OPENBLAS_CORETYPE:-unset}  OMP_WAIT_POLICY=$OMP_WAIT_POLICY"

run() {  # run LABEL CMD...: appends "LABEL <peer line>" to $OUT
  local label="$1"
  shift
  local line
  line="$("$@" 2>/dev/null | tail -n 1)"
  note "$label $line load=$(cut -d' ' -f1 /proc/loadavg)"
}

for b in 1 8; do
  run "kiln/infer$b" "$BUILD/bench/bench_bert_bench" --mode infer --batch "$b" --runs "$RUNS"
  [[ -z "$BEFORE" ]] || run "kiln-before/infer$b" "$BEFORE" --mode infer --batch "$b" --runs "$RUNS"
  run "torch-haswell/infer$b" env OPENBLAS_CORETYPE=Haswell "$PY" "$ROOT/bench/bert/torch_bert.py" \
    --mode infer --batch "$b" --runs "$RUNS"
  run "torch-auto/infer$b" env -u OPENBLAS_CORETYPE "$PY" "$ROOT/bench/bert/torch_bert.py" \
    --mode infer --batch "$b" --runs "$RUNS"
  run "ort-nospin/infer$b" env ORT_SPIN=0 node "$ROOT/bench/bert/ort_bert.js" "$ONNX" --batch "$b" --runs "$RUNS"
  run "ort-spin/infer$b" env ORT_SPIN=1 node "$ROOT/bench/bert/ort_bert.js" "$ONNX" --batch "$b" --runs "$RUNS"
done
run "kiln/train8" "$BUILD/bench/bench_bert_bench" --mode train --batch 8 --runs "$TRAIN_RUNS"
[[ -z "$BEFORE" ]] || run "kiln-before/train8" "$BEFORE" --mode train --batch 8 --runs "$TRAIN_RUNS"
run "torch-haswell/train8" env OPENBLAS_CORETYPE=Haswell "$PY" "$ROOT/bench/bert/torch_bert.py" \
  --mode train --batch 8 --runs "$TRAIN_RUNS"
run "torch-auto/train8" env -u OPENBLAS_CORETYPE "$PY" "$ROOT/bench/bert/torch_bert.py" \
  --mode train --batch 8 --runs "$TRAIN_RUNS"
note "# end load: $(cut -d' ' -f1-3 /proc/loadavg)"

# Table: median ms, ratio peer/kiln (> 1 means kiln is faster), peak RSS of the warm-up + timed
# loop, and peak RSS while setting the model up (random init / graph load; see bench_bert_bench).
awk '
  function field(line, key,   i, n, parts) {
    n = split(line, parts, " ")
    for (i = 1; i <= n; ++i) if (index(parts[i], key "=") == 1) return substr(parts[i], length(key) + 2)
    return ""
  }
  /^#/ { next }
  {
    split($1, lp, "/"); peer = lp[1]; cfg = lp[2]
    ms[peer, cfg] = field($0, "median_ms"); rss[peer, cfg] = field($0, "peak_rss_mb")
    loop[peer, cfg] = field($0, "setup_peak_mb")
    peers[peer] = 1; cfgs[cfg] = 1
  }
  END {
    printf "\n%-14s %-8s %10s %12s %10s %10s\n", "peer", "config", "median_ms", "vs kiln", "peak_MB", "setup_MB"
    nc = split("infer1 infer8 train8", order, " ")
    np = split("kiln kiln-before torch-haswell torch-auto ort-nospin ort-spin", porder, " ")
    for (c = 1; c <= nc; ++c) for (p = 1; p <= np; ++p) {
      k = porder[p]; cf = order[c]
      if (!((k, cf) in ms) || ms[k, cf] == "") continue
      r = (ms["kiln", cf] > 0) ? sprintf("%.2fx", ms[k, cf] / ms["kiln", cf]) : "-"
      printf "%-14s %-8s %10s %12s %10s %10s\n", k, cf, ms[k, cf], r, rss[k, cf], loop[k, cf]
    }
  }' "$OUT"
