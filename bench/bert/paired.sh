#!/usr/bin/env bash
# Paired kiln-vs-ONNX-Runtime forward comparison for a machine whose speed drifts (this VM's host
# moves single runs by 5-15%): PAIRS back-to-back pairs of processes, the order inside a pair
# alternating so a drift favours neither side, each process timing RUNS forwards after 2 warm-ups.
# Every pair gives one ratio ORT / kiln (> 1: kiln faster); the summary (bench/bert/paired_stats.py)
# gives their median, a bootstrap 95% interval of that median, and a sign test.
#   bench/bert/paired.sh [PAIRS=20] [BATCH=8] [RUNS=5]
# ORT runs spinning (ORT_SPIN=1), its faster configuration on an otherwise idle machine; set
# ORT_SPIN=0 to pair against the non-spinning one. Needs what run.sh needs (onnxruntime-node under
# bench/.scratch and the exported bert.onnx, which run.sh creates).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-perf}"
PAIRS="${1:-20}"
BATCH="${2:-8}"
RUNS="${3:-5}"
SCRATCH="$ROOT/bench/.scratch"
ONNX="$SCRATCH/bert.onnx"
OUT="${OUT:-$SCRATCH/bert_paired_b$BATCH.txt}"
[[ -f "$ONNX" ]] || { echo "missing $ONNX: run bench/bert/run.sh once to export it" >&2; exit 1; }
ninja -C "$BUILD" bench_bert_bench >/dev/null

median_of() { tail -n 1 | sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p'; }
kiln() { "$BUILD/bench/bench_bert_bench" --mode infer --batch "$BATCH" --runs "$RUNS" 2>/dev/null | median_of; }
ort() {
  ORT_SPIN="${ORT_SPIN:-1}" node "$ROOT/bench/bert/ort_bert.js" "$ONNX" --batch "$BATCH" \
    --runs "$RUNS" 2>/dev/null | median_of
}

echo "# $(date -u +%FT%TZ) batch=$BATCH runs=$RUNS pairs=$PAIRS ORT_SPIN=${ORT_SPIN:-1} load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT"
for ((i = 1; i <= PAIRS; ++i)); do
  if ((i % 2)); then
    k="$(kiln)"
    o="$(ort)"
  else
    o="$(ort)"
    k="$(kiln)"
  fi
  echo "pair $i kiln_ms=$k ort_ms=$o load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT"
done
/usr/bin/python3 "$ROOT/bench/bert/paired_stats.py" "$OUT" | tee -a "$OUT"
