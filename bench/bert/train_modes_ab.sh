#!/bin/bash
# Interleaved A/B of the BERT-base training step in kiln's own modes (issue 15 items 1-2):
#   bf16:  f32 vs --bf16 at 8 x 128 (PAIRS pairs, RUNS timed steps each after one warm-up)
#   ckpt:  plain vs --checkpointing at BATCH x SEQ (default 8 x 512, one timed step each)
# One process per configuration, so each peak RSS belongs to it alone; pairs alternate so both
# sides see the same load window on a shared machine.
#   bench/bert/train_modes_ab.sh bf16|ckpt   (BUILD=build-perf by default)
cd "$(dirname "$0")/../.." || exit 1
BUILD="${BUILD:-build-perf}"
B="$BUILD/bench/bench_bert_bench"
PAIRS="${PAIRS:-3}"
load() { cut -d' ' -f1 /proc/loadavg; }
case "$1" in
  bf16)
    RUNS="${RUNS:-3}"
    for _ in $(seq "$PAIRS"); do
      echo "f32  $("$B" --mode train --batch 8 --seq 128 --runs "$RUNS" --warmup 1) load=$(load)"
      echo "bf16 $("$B" --mode train --batch 8 --seq 128 --runs "$RUNS" --warmup 1 --bf16) load=$(load)"
    done
    ;;
  ckpt)
    BATCH="${BATCH:-8}" SEQ="${SEQ:-512}" RUNS="${RUNS:-1}"
    for _ in $(seq "$PAIRS"); do
      echo "plain $("$B" --mode train --batch "$BATCH" --seq "$SEQ" --runs "$RUNS" --warmup 1) load=$(load)"
      echo "ckpt  $("$B" --mode train --batch "$BATCH" --seq "$SEQ" --runs "$RUNS" --warmup 1 --checkpointing) load=$(load)"
    done
    ;;
  *)
    echo "usage: $0 bf16|ckpt" >&2
    exit 2
    ;;
esac
