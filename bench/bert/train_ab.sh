#!/bin/bash
# Interleaved training-step check: kiln, torch, kiln, torch, so both see the same load window
# (run.sh runs all of kiln first, then torch). PyTorch: transformers' BertForSequenceClassification
# from the PyPI packages in $PY (install line in run.sh), with TORCH_FLAGS (torch_bert.py flags).
#   bench/bert/train_ab.sh   (needs build-perf/bench/bench_bert_bench built; BUILD overrides)
cd "$(dirname "$0")/../.." || exit 1
PY="${PY:-/work/venv-bench/bin/python}"
BUILD="${BUILD:-build-perf}"
TORCH_FLAGS="${TORCH_FLAGS:---attn sdpa}"
for _ in 1 2; do
  echo "kiln/train8 $("$BUILD"/bench/bench_bert_bench --mode train --batch 8 --runs 3) load=$(cut -d' ' -f1 /proc/loadavg)"
  # shellcheck disable=SC2086  # the flags are meant to split
  echo "torch/train8 $(OMP_WAIT_POLICY=PASSIVE "$PY" bench/bert/torch_bert.py --mode train --batch 8 --runs 3 $TORCH_FLAGS 2>/dev/null) load=$(cut -d' ' -f1 /proc/loadavg)"
done
