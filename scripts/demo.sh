#!/usr/bin/env bash
# Installs dependencies, builds the kiln binary and runs its main job on the bundled default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target kiln >/dev/null
exec "$BUILD_DIR/tools/kiln" inspect examples/tiny-bert-keyphrase.safetensors
