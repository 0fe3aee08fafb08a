#!/bin/bash
# GEMM benchmark: kiln sgemm vs OpenBLAS (called directly) vs PyTorch torch.matmul, at BERT-base
# shapes, 1 and 2 threads, under two OpenBLAS configurations:
#   env     : the environment as given (this machine sets OPENBLAS_CORETYPE=Haswell,
#             OPENBLAS_L2_SIZE=512)
#   native  : both variables unset, so OpenBLAS's DYNAMIC_ARCH picks its own kernel for this CPU
# OpenBLAS reads these at library load, so each configuration is a separate process; PyTorch
# (Debian python3-torch) links the same OpenBLAS and is run under the same environment.
# Usage: bench/gemm/run.sh [build-dir] [min-seconds-per-measurement] [layouts: nn|nt|tn|all]
# Prints a markdown table (to paste into bench/results/gemm.md); raw lines go to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-gemm}
min_time=${2:-1.0}
layouts=${3:-nn}
bench=$build/bench/bench_gemm_bench
[ -x "$bench" ] || { echo "missing $bench; build target bench_gemm_bench first" >&2; exit 1; }
py=/usr/bin/python3  # Debian's interpreter, where python3-torch lives

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for cfg in env native; do
  if [ "$cfg" = native ]; then envcmd=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE); else envcmd=(env); fi
  for threads in 1 2; do
    echo "CONFIG $cfg $threads" >>"$raw"
    "${envcmd[@]}" KILN_NUM_THREADS=$threads "$bench" --threads "$threads" --min-time "$min_time" \
      --trans "$layouts" | tee -a "$raw" >&2
    # torch.set_num_threads sets OpenMP only; OpenBLAS (pthreads build) needs its own count.
    "${envcmd[@]}" OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$py" "$root/bench/gemm/torch_matmul.py" \
      --threads "$threads" --min-time "$min_time" --trans "$layouts" | tee -a "$raw" >&2
  done
done

"$py" - "$raw" <<'PY'
import re, sys
rows, torch, peak, meta = [], {}, {}, {}
cfg = thr = None
for line in open(sys.argv[1]):
    f = line.split()
    if not f:
        continue
    if f[0] == "CONFIG":
        cfg, thr = f[1], int(f[2])
    elif f[0] == "PEAK":
        peak[(cfg, thr)] = float(f[2].split("=")[1])
    elif line.startswith("# threads="):
        meta[(cfg, thr)] = line.strip("# \n")
    elif f[0] in ("RESULT", "TORCH"):
        kv = dict(x.split("=", 1) for x in f[5:])
        key = (cfg, thr, f[1], int(f[2]), int(f[3]), int(f[4]))
        if f[0] == "TORCH":
            torch[key] = float(kv["torch"])
        else:
            rows.append((key, float(kv["kiln"]), float(kv["openblas"]), float(kv["bf16"])))
for k, v in sorted(meta.items()):
    print(f"- {k[0]}, {k[1]} thread(s): {v}; FMA peak {peak.get(k, 0):.1f} GFLOP/s")
print()
print("| OpenBLAS env | threads | layout | M×N×K | kiln GF/s | kiln/peak | OpenBLAS GF/s | torch GF/s | kiln/OpenBLAS | kiln/torch | kiln bf16 GF/s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for key, kiln, ob, bf in rows:
    cfg, thr, lay, m, n, k = key
    t = torch.get(key, float("nan"))
    p = peak.get((cfg, thr), float("nan"))
    print(f"| {cfg} | {thr} | {lay} | {m}×{n}×{k} | {kiln:.1f} | {kiln / p:.2f} | {ob:.1f} | {t:.1f} "
          f"| {kiln / ob:.2f} | {kiln / t:.2f} | {bf:.1f} |")
PY
