#!/usr/bin/env bash
# Paired kiln-vs-peer comparison for a machine whose speed drifts (this VM's host moves single runs
# by 5-15%): PAIRS back-to-back pairs of processes, the order inside a pair alternating so a drift
# favours neither side, each process timing RUNS steps after 2 warm-ups. Every pair gives one ratio
# peer / kiln (> 1: kiln faster); the summary (bench/bert/paired_stats.py) gives their median, a
# bootstrap 95% interval of that median, and a sign test.
#   bench/bert/paired.sh [PAIRS=20] [BATCH=8] [RUNS=5]
# env: PEER=ort (default) or torch; MODE=infer (default) or train (torch only: the training step).
# ORT runs spinning (ORT_SPIN=1), its faster configuration on an otherwise idle machine; set
# ORT_SPIN=0 to pair against the non-spinning one. PyTorch runs torch_bert.py with TORCH_FLAGS
# (default below) and OMP_WAIT_POLICY as in run.sh.
# Needs what run.sh needs: the PyPI peers in $PY (install line in run.sh) and, for ORT, the
# optimized graph bench/.scratch/ort/bert_opt.onnx (made here if missing).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-perf}"
PAIRS="${1:-20}"
BATCH="${2:-8}"
RUNS="${3:-5}"
PEER="${PEER:-ort}"
MODE="${MODE:-infer}"
PY="${PY:-/work/venv-bench/bin/python}"
# Default torch configuration: compiled for the forward (fastest in every loaded-machine check on
# 2026-12-02); plain sdpa for training, where compiling costs minutes per process and did not win
# there. Set TORCH_FLAGS to the configuration run.sh's table marks fastest.
if [[ "$MODE" == infer ]]; then
  TORCH_FLAGS="${TORCH_FLAGS:---attn sdpa --compile}"
else
  TORCH_FLAGS="${TORCH_FLAGS:---attn sdpa}"
fi
export OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}"  # read by torch's libgomp only
SCRATCH="$ROOT/bench/.scratch"
ONNX="$SCRATCH/ort/bert_opt.onnx"
OUT="${OUT:-$SCRATCH/bert_paired_${PEER}_${MODE}_b$BATCH.txt}"
[[ "$PEER" == torch || "$MODE" == infer ]] || { echo "ORT has no training step" >&2; exit 1; }
ninja -C "$BUILD" bench_bert_bench >/dev/null
if [[ "$PEER" == ort && ! -f "$ONNX" ]]; then
  "$PY" "$ROOT/bench/bert/ort_bert.py" --export "$(dirname "$ONNX")" 2>/dev/null
fi

median_of() { tail -n 1 | sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p'; }
kiln() {
  "$BUILD/bench/bench_bert_bench" --mode "$MODE" --batch "$BATCH" --runs "$RUNS" 2>/dev/null | median_of
}
peer() {
  if [[ "$PEER" == ort ]]; then
    "$PY" "$ROOT/bench/bert/ort_bert.py" "$ONNX" --spin "${ORT_SPIN:-1}" --batch "$BATCH" \
      --runs "$RUNS" 2>/dev/null | median_of
  else
    # shellcheck disable=SC2086  # the flags are meant to split
    "$PY" "$ROOT/bench/bert/torch_bert.py" --mode "$MODE" --batch "$BATCH" --runs "$RUNS" \
      $TORCH_FLAGS 2>/dev/null | median_of
  fi
}

cfg="ORT_SPIN=${ORT_SPIN:-1}"
[[ "$PEER" == ort ]] || cfg="TORCH_FLAGS='$TORCH_FLAGS' OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "# $(date -u +%FT%TZ) peer=$PEER mode=$MODE batch=$BATCH runs=$RUNS pairs=$PAIRS $cfg load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT"
for ((i = 1; i <= PAIRS; ++i)); do
  if ((i % 2)); then
    k="$(kiln)"
    o="$(peer)"
  else
    o="$(peer)"
    k="$(kiln)"
  fi
  echo "pair $i kiln_ms=$k ${PEER}_ms=$o load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT"
done
"$PY" "$ROOT/bench/bert/paired_stats.py" "$OUT" | tee -a "$OUT"
