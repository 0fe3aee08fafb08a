#!/usr/bin/env bash
# Installs dependencies, builds kiln and runs the whole test suite (ctest).
# Usage: scripts/test.sh   (env: BUILD_DIR, default build; JOBS, default nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_TESTS=ON \
  -DKILN_BUILD_BENCH=OFF -DKILN_PCH="${KILN_PCH:-ON}"
cmake --build "$BUILD_DIR" -j "$JOBS"
# The tests compare against fixtures in ../shared when present; OPENBLAS_CORETYPE is left as the
# environment sets it (results must not depend on it).
ctest --test-dir "$BUILD_DIR" -j "$JOBS" --output-on-failure --timeout 900 --no-tests=error
