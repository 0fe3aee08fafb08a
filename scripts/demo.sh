#!/usr/bin/env bash
# kiln's main job on the bundled default: installs the Debian packages, builds the kiln binary,
# tags five bundled Inspec abstracts with the keyphrase model kiln trained on Inspec train
# (examples/README.md says how), printing the keyphrases it found, then summarizes three bundled
# news articles and one review group with the summarizer kiln trained itself
# (examples/summarizer/README.md), printing the summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
BUILD_DIR=${BUILD_DIR:-build}
# Only the kiln target is built; the build directory's test/bench options are left as they are,
# so demo.sh and test.sh can share it.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target kiln >/dev/null
KILN="$BUILD_DIR/tools/kiln"
echo "== kiln inspect --summary examples/keyphrase-bert-mini.kiln"
"$KILN" inspect --summary examples/keyphrase-bert-mini.kiln
echo
echo "== keyphrases in examples/inspec-abstracts.jsonl (kiln tag --format text)"
"$KILN" tag -m examples/keyphrase-bert-mini.kiln -i examples/inspec-abstracts.jsonl --format text
echo
# The summarizer kiln trained from random weights (examples/summarizer/README.md): small and
# weak, far below bart-large-cnn; its ROUGE beside the baselines is in that README.
SUMMARIZER=examples/summarizer/summarizer-bf16.kiln
echo "== news summaries: examples/summarizer/demo-news.jsonl (kiln summarize, beam 4)"
"$KILN" summarize -m "$SUMMARIZER" -i examples/summarizer/demo-news.jsonl --format text
echo
echo "== a review-group summary: examples/summarizer/demo-reviews.jsonl"
"$KILN" summarize -m "$SUMMARIZER" -i examples/summarizer/demo-reviews.jsonl --format text \
  --min-length 40 --max-length 100
