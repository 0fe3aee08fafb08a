#!/usr/bin/env bash
# kiln's main job on the bundled default: installs the Debian packages, builds the kiln binary and
# tags five bundled Inspec abstracts with the keyphrase model kiln trained on Inspec train
# (examples/README.md says how), printing the keyphrases it found.
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
exec "$KILN" tag -m examples/keyphrase-bert-mini.kiln -i examples/inspec-abstracts.jsonl --format text
