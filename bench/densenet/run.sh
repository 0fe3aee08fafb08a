#!/usr/bin/env bash
# DenseNet121 (torchvision's configuration, seeded random weights), 2 threads: kiln vs PyTorch and
# ONNX Runtime in one run. Figures: forward 1 x 3 x 224^2, forward 8 x 3 x 224^2 (eval, no grad)
# and the training step at 8 x 224^2 (train-mode forward, cross entropy, backward, SGD momentum),
# each with its process's peak RSS. A figure ending in "bf16" (train8bf16) runs every contender
# under bf16 mixed precision: kiln --bf16, PyTorch torch.autocast("cpu", torch.bfloat16). PAIRS rounds; within a round every contender runs once, the
# order rotating between rounds, so a load change on a shared machine hits all of them alike.
#   bench/densenet/run.sh [PAIRS=3] [FIGURES="fwd1 fwd8 train8"]
# BASE=/path/to/an/older/bench_densenet_bench adds it as contender "kiln_base" (before/after A/B).
# Needs torch + onnxruntime (+ onnx) from PyPI in $PY (default /work/venv-bench/bin/python); the
# ONNX model is exported once to bench/.scratch/densenet121.onnx by torch_densenet.py --export
# (torchvision's densenet121 when torchvision imports, else the identical local definition).
# PyTorch runs twice per round: contiguous (NCHW) and channels_last, its two CPU layouts; the
# summary takes the faster as "torch (best)".
# Output: bench/.scratch/densenet_run.txt (raw lines) and per figure the medians and ratios.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
PAIRS="${1:-3}"
FIGURES="${2:-fwd1 fwd8 train8}"
PY="${PY:-/work/venv-bench/bin/python}"
OUT="${OUT:-$ROOT/bench/.scratch/densenet_run.txt}"
ONNX="${ONNX:-$ROOT/bench/.scratch/densenet121.onnx}"
BASE="${BASE:-}"
export OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}"
mkdir -p "$(dirname "$OUT")"
ninja -C "$BUILD" bench_densenet_bench >/dev/null
# The ONNX graph only for forward figures (ONNX Runtime has no training step here).
if [[ "$FIGURES" == *fwd* && ! -f "$ONNX" ]]; then
  "$PY" "$ROOT/bench/densenet/torch_densenet.py" --export "$ONNX" 2>/dev/null
fi

mode_of() { [[ "$1" == train* ]] && echo train || echo fwd; }
batch_of() { local f="${1%bf16}"; echo "${f//[a-z]/}"; }
prec_of() { [[ "$1" == *bf16 ]] && echo --bf16 || true; }
runs_of() { [[ "$1" == fwd1 ]] && echo 10 || echo 3; }
args() {
  echo --mode "$(mode_of "$1")" --batch "$(batch_of "$1")" --runs "$(runs_of "$1")" --warmup 1 \
    $(prec_of "$1")
}
run_one() {  # contender figure
  case "$1" in
    kiln) "$BUILD/bench/bench_densenet_bench" $(args "$2") ;;
    kiln_base) "$BASE" $(args "$2") | sed 's/^kiln /kiln_base /' ;;
    torch) "$PY" "$ROOT/bench/densenet/torch_densenet.py" $(args "$2") 2>/dev/null ;;
    torch_cl) "$PY" "$ROOT/bench/densenet/torch_densenet.py" $(args "$2") --channels-last 2>/dev/null |
        sed 's/^torch /torch_cl /' ;;
    ort) "$PY" "$ROOT/bench/densenet/ort_densenet.py" "$ONNX" --batch "$(batch_of "$2")" \
        --runs "$(runs_of "$2")" --warmup 1 2>/dev/null ;;
  esac
}

: >"$OUT"
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) pairs=$PAIRS $(uname -m) $(nproc) cores" | tee -a "$OUT"
for fig in $FIGURES; do
  who=(kiln torch torch_cl)
  [[ -n "$BASE" ]] && who+=(kiln_base)
  [[ "$(mode_of "$fig")" == fwd ]] && who+=(ort)
  for ((i = 0; i < PAIRS; ++i)); do
    n=${#who[@]}
    for ((j = 0; j < n; ++j)); do
      c=${who[$(((i + j) % n))]}
      run_one "$c" "$fig" | sed "s/^\([a-z_]*\) /\1 fig=$fig /" | tee -a "$OUT"
    done
  done
done
"$PY" - "$OUT" <<'PY'
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) | {"who": l.split()[0]}
        for l in open(sys.argv[1]) if not l.startswith("#") and l.strip()]
for fig in dict.fromkeys(r["fig"] for r in rows):
    med, rss = {}, {}
    for w in dict.fromkeys(r["who"] for r in rows if r["fig"] == fig):
        sel = [r for r in rows if r["fig"] == fig and r["who"] == w]
        med[w] = statistics.median(float(r["median_ms"]) for r in sel)
        rss[w] = max(float(r["peak_rss_mb"]) for r in sel)
    if "torch_cl" in med and med["torch_cl"] < med.get("torch", 1e30):
        med["torch"], rss["torch"] = med["torch_cl"], rss["torch_cl"]
    med.pop("torch_cl", None), rss.pop("torch_cl", None)
    k = med["kiln"]
    parts = [f"{w} {m:.1f} ms ({m / k:.2f}x kiln), {rss[w]:.0f} MB" for w, m in med.items()]
    print(f"{fig}: " + "; ".join(parts))
PY
