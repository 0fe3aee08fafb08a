#!/usr/bin/env bash
# Tokenizer encode throughput: kiln vs Hugging Face tokenizers (npm package, native Rust) on the
# same corpus, one thread and all threads, in one run. Prints a Markdown table.
#   bench/tokenizer/run.sh            (env: BUILD_DIR, REPEAT, SHARED)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-tok}"
SHARED="${SHARED:-$ROOT/../shared}"
REPEAT="${REPEAT:-3}"
SCRATCH="$ROOT/bench/.scratch"
THREADS="$(nproc)"

mkdir -p "$SCRATCH"
if [ ! -d "$SCRATCH/node_modules/tokenizers" ]; then
  (cd "$SCRATCH" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install tokenizers >/dev/null)
fi
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target bench_tokenizer_bench -j"$THREADS" >/dev/null

CORPUS="$SCRATCH/tokenizer_corpus.jsonl"
node "$ROOT/bench/tokenizer/make_corpus.js" "$SHARED/data" "$CORPUS"

RESULTS="$SCRATCH/tokenizer_results.jsonl"
: > "$RESULTS"
for spec in "bert:$SHARED/tokenizers/bert-base-cased/tokenizer.json" \
            "bart:$SHARED/tokenizers/bart-large-cnn/tokenizer.json"; do
  name="${spec%%:*}"; file="${spec#*:}"
  "$BUILD_DIR/bench/bench_tokenizer_bench" --tokenizer "$file" --corpus "$CORPUS" --name "$name" \
    --repeat "$REPEAT" >> "$RESULTS"
  # Hugging Face: parallelism off for one thread (encodeBatch then runs serially in Rust), rayon
  # with all cores otherwise.
  TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 HF_MODULES="$SCRATCH/node_modules" \
    node "$ROOT/bench/tokenizer/hf_bench.js" "$file" "$CORPUS" "$name" 1 "$REPEAT" >> "$RESULTS"
  TOKENIZERS_PARALLELISM=true RAYON_NUM_THREADS="$THREADS" HF_MODULES="$SCRATCH/node_modules" \
    node "$ROOT/bench/tokenizer/hf_bench.js" "$file" "$CORPUS" "$name" "$THREADS" "$REPEAT" >> "$RESULTS"
done
node "$ROOT/bench/tokenizer/table.js" "$RESULTS"
