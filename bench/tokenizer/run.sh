#!/usr/bin/env bash
# Tokenizer encode throughput: kiln vs Hugging Face tokenizers (PyPI package, native Rust core) on
# the same corpus, one thread and all threads, in one run. Prints a Markdown table.
#   bench/tokenizer/run.sh            (env: BUILD_DIR, REPEAT, SHARED, PY)
# Needs the PyPI package tokenizers in $PY (default /work/venv-bench/bin/python):
#   python3 -m venv /work/venv-bench && /work/venv-bench/bin/pip install tokenizers
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-tok}"
SHARED="${SHARED:-$ROOT/../shared}"
REPEAT="${REPEAT:-3}"
PY="${PY:-/work/venv-bench/bin/python}"
SCRATCH="$ROOT/bench/.scratch"
THREADS="$(nproc)"

mkdir -p "$SCRATCH"
"$PY" -c 'import tokenizers' || { echo "$PY lacks tokenizers: see the header of $0" >&2; exit 1; }
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target bench_tokenizer_bench -j"$THREADS" >/dev/null

CORPUS="$SCRATCH/tokenizer_corpus.jsonl"
"$PY" "$ROOT/bench/tokenizer/make_corpus.py" "$SHARED/data" "$CORPUS"

RESULTS="$SCRATCH/tokenizer_results.jsonl"
: > "$RESULTS"
for spec in "bert:$SHARED/tokenizers/bert-base-cased/tokenizer.json" \
            "bart:$SHARED/tokenizers/bart-large-cnn/tokenizer.json"; do
  name="${spec%%:*}"; file="${spec#*:}"
  "$BUILD_DIR/bench/bench_tokenizer_bench" --tokenizer "$file" --corpus "$CORPUS" --name "$name" \
    --repeat "$REPEAT" >> "$RESULTS"
  # Hugging Face: parallelism off for one thread (encode_batch then runs serially in Rust), rayon
  # with all cores otherwise.
  TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 \
    "$PY" "$ROOT/bench/tokenizer/hf_bench.py" "$file" "$CORPUS" "$name" 1 "$REPEAT" >> "$RESULTS"
  TOKENIZERS_PARALLELISM=true RAYON_NUM_THREADS="$THREADS" \
    "$PY" "$ROOT/bench/tokenizer/hf_bench.py" "$file" "$CORPUS" "$name" "$THREADS" "$REPEAT" \
    >> "$RESULTS"
done
"$PY" "$ROOT/bench/tokenizer/table.py" "$RESULTS"
