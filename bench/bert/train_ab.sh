#!/bin/bash
# Interleaved training-step check: kiln, torch-auto (its best configuration), kiln, torch-auto,
# so both see the same load window (run.sh runs all of kiln first, then torch).
#   bench/bert/train_ab.sh   (needs build-perf/bench/bench_bert_bench built)
cd "$(dirname "$0")/../.."
for i in 1 2; do
  echo "kiln/train8 $(./build-perf/bench/bench_bert_bench --mode train --batch 8 --runs 3) load=$(cut -d' ' -f1 /proc/loadavg)"
  echo "torch-auto/train8 $(env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/bert/torch_bert.py --mode train --batch 8 --runs 3 2>/dev/null) load=$(cut -d' ' -f1 /proc/loadavg)"
done
