#!/usr/bin/env bash
# Installs every Debian package kiln needs to build and test. The build itself never downloads.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the peers used by bench/: python3-torch,
# python3-pil, which remakes the Pillow fixtures in tests/data, python3-torchvision, which turns
# on the densenet121-vs-torchvision test instead of skipping it, and chromium, which renders the
# HTML run report and, in the opt-in KILN_MLFLOW test, MLflow's UI; those tests skip without it)
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-dev libutf8proc-dev libssl-dev libzstd-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  libjpeg62-turbo-dev libpng-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang libclang-rt-14-dev clang-format
  libopenmpi-dev openmpi-bin
)
if [ "${1:-}" = "--bench" ]; then
  PKGS+=(python3-torch python3-torchvision python3-numpy python3-pil chromium)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#PKGS[@]} packages present"
