#!/usr/bin/env bash
# kiln vs PyTorch vs ONNX Runtime on a BERT-base-shaped model (seeded random weights), 2 threads,
# all in one run so the ratios share the machine's load. One process per configuration, so each
# peak RSS belongs to that configuration alone.
#   bench/bert/run.sh [RUNS]      (default 10 timed runs after 2 warm-ups; training uses RUNS/2)
# Peers from PyPI, in the Python of $PY (default /work/venv-bench/bin/python):
#   python3 -m venv /work/venv-bench
#   /work/venv-bench/bin/pip install torch transformers onnxruntime onnx
# (tested with torch 2.15.0, transformers 5.24.0, onnxruntime 1.32.0, onnx 1.23.2; torch.compile
# needs a C++ compiler, g++ here.) PyTorch runs transformers' own BertForSequenceClassification
# (bench/bert/torch_bert.py) in each configuration in TORCH_CFGS, so the table can use the fastest;
# ONNX Runtime runs that model exported with torch.onnx and fused by onnxruntime's transformer
# optimizer (bench/bert/ort_bert.py --export, once, into bench/.scratch/ort/).
# Busy-waiting: on a shared, loaded machine, PyTorch's OpenMP workers and ORT's intra-op workers
# spin between ops and starve each other (measured 15:07 UTC at load ~6: torch 1x128 2817 ms
# spinning vs 230 ms with OMP_WAIT_POLICY=PASSIVE; ORT 238 vs 171 ms without spinning). So torch
# runs with OMP_WAIT_POLICY=${TORCH_WAIT:-PASSIVE} and ORT both with and without spinning; on an
# idle machine set TORCH_WAIT=ACTIVE to give torch its spinning default back.
# This script runs each peer once, minutes apart, so a drift of the host can swing one ratio by
# 5-15%; bench/bert/paired.sh repeats kiln against ORT or PyTorch in alternating pairs for a closer
# call.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-perf}"
RUNS="${1:-10}"
export OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}"  # read by torch's libgomp only
TRAIN_RUNS=$(((RUNS + 1) / 2))
PY="${PY:-/work/venv-bench/bin/python}"
# torch_bert.py flags per PyTorch configuration, label=flags separated by ";". compile: inductor
# (frozen weights for inference), compiled during set-up, outside the timed loop.
TORCH_CFGS="${TORCH_CFGS:-sdpa=--attn sdpa;eager=--attn eager;compile=--attn sdpa --compile}"
SCRATCH="$ROOT/bench/.scratch"
ONNX="$SCRATCH/ort/bert_opt.onnx"
OUT="${OUT:-$SCRATCH/bert_run.txt}"
# BEFORE=/path/to/bench_bert_bench (optional): a build of the same bench from an earlier tree, run
# as "kiln-before" in the same pass so before/after ratios share the load.
BEFORE="${BEFORE:-}"

[[ -d "$BUILD" ]] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD" bench_bert_bench >/dev/null
[[ -f "$ONNX" ]] || "$PY" "$ROOT/bench/bert/ort_bert.py" --export "$(dirname "$ONNX")" 2>/dev/null

: >"$OUT"
note() { echo "$*" | tee -a "$OUT"; }
note "# $(date -u +%FT%TZ)  host load: $(cut -d' ' -f1-3 /proc/loadavg)  OMP_WAIT_POLICY=$OMP_WAIT_POLICY  PY=$PY"

torch_all() {  # torch_all MODE BATCH RUNS: one run per configuration in TORCH_CFGS
  local cfg cfgs
  IFS=';' read -ra cfgs <<<"$TORCH_CFGS"
  for cfg in "${cfgs[@]}"; do
    # shellcheck disable=SC2086  # the flags are meant to split
    run "torch-${cfg%%=*}/$1$2" "$PY" "$ROOT/bench/bert/torch_bert.py" --mode "$1" --batch "$2" \
      --runs "$3" ${cfg#*=}
  done
}

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
  torch_all infer "$b" "$RUNS"
  for spin in 0 1; do
    run "ort-$( ((spin)) && echo spin || echo nospin)/infer$b" "$PY" "$ROOT/bench/bert/ort_bert.py" \
      "$ONNX" --spin "$spin" --batch "$b" --runs "$RUNS"
  done
done
run "kiln/train8" "$BUILD/bench/bench_bert_bench" --mode train --batch 8 --runs "$TRAIN_RUNS"
[[ -z "$BEFORE" ]] || run "kiln-before/train8" "$BEFORE" --mode train --batch 8 --runs "$TRAIN_RUNS"
torch_all train 8 "$TRAIN_RUNS"
note "# end load: $(cut -d' ' -f1-3 /proc/loadavg)"

# Table: median ms, ratio peer/kiln (> 1 means kiln is faster), peak RSS of the warm-up + timed
# loop, and peak RSS while setting the model up (random init / graph load; see bench_bert_bench).
# "*" marks each peer family's (torch, ort) fastest configuration per row group, the one to quote.
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
    if (!(peer in seen)) { seen[peer] = 1; porder[++np] = peer }  # peers in order of appearance
    fam = peer; sub(/-.*/, "", fam)
    if (fam != "kiln" && ms[peer, cfg] != "" && (!((fam, cfg) in best) || ms[peer, cfg] + 0 < ms[best[fam, cfg], cfg] + 0))
      best[fam, cfg] = peer
  }
  END {
    printf "\n%-14s %-8s %10s %12s %10s %10s\n", "peer", "config", "median_ms", "vs kiln", "peak_MB", "setup_MB"
    nc = split("infer1 infer8 train8", order, " ")
    for (c = 1; c <= nc; ++c) for (p = 1; p <= np; ++p) {
      k = porder[p]; cf = order[c]
      if (!((k, cf) in ms) || ms[k, cf] == "") continue
      r = (ms["kiln", cf] > 0) ? sprintf("%.2fx", ms[k, cf] / ms["kiln", cf]) : "-"
      fam = k; sub(/-.*/, "", fam)
      printf "%-14s %-8s %10s %12s %10s %10s %s\n", k, cf, ms[k, cf], r, rss[k, cf], loop[k, cf],
        (best[fam, cf] == k) ? "*" : ""
    }
  }' "$OUT"
