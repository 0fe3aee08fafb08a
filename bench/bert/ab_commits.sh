#!/usr/bin/env bash
# A/B of two kiln commits on the BERT-base benchmark (bench_bert_bench), for "unchanged within
# noise" checks of a refactor: PAIRS back-to-back process pairs, the order inside a pair
# alternating so the host's drift favours neither side. Ratio = old / new (> 1: new faster).
#   bench/bert/ab_commits.sh OLD_BUILD NEW_BUILD [PAIRS=10] [MODE=infer|train] [BATCH=8] [RUNS=3]
# OLD_BUILD / NEW_BUILD are build directories with bench/bench_bert_bench built, e.g. from
#   git worktree add /tmp/ab/old OLD_COMMIT && cmake -S /tmp/ab/old -B /tmp/ab/old/build -G Ninja \
#     -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_TESTS=OFF && ninja -C /tmp/ab/old/build bench_bert_bench
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OLD="$1"
NEW="$2"
PAIRS="${3:-10}"
MODE="${4:-infer}"
BATCH="${5:-8}"
RUNS="${6:-3}"
OUT="${OUT:-$ROOT/bench/.scratch/ab_${MODE}_b$BATCH.txt}"
mkdir -p "$(dirname "$OUT")"

median_of() { tail -n 1 | sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p'; }
run() { "$1/bench/bench_bert_bench" --mode "$MODE" --batch "$BATCH" --runs "$RUNS" 2>/dev/null | median_of; }

echo "# $(date -u +%FT%TZ) mode=$MODE batch=$BATCH runs=$RUNS pairs=$PAIRS old=$OLD new=$NEW load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT"
for ((i = 1; i <= PAIRS; ++i)); do
  if ((i % 2)); then
    n="$(run "$NEW")"
    o="$(run "$OLD")"
  else
    o="$(run "$OLD")"
    n="$(run "$NEW")"
  fi
  echo "pair $i new_ms=$n old_ms=$o load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT"
done
/usr/bin/python3 "$ROOT/bench/bert/paired_stats.py" "$OUT" | tee -a "$OUT"
