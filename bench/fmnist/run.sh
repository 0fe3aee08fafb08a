#!/usr/bin/env bash
# Fashion-MNIST from scratch: kiln and PyTorch train the same small-stem DenseNet-BC with the same
# recipe at the same time, with the same thread count, so that both see the same machine load.
#
#   bench/fmnist/run.sh [OUT_DIR]        (default: fmnist_bench)
#   env: KILN (default build/tools/kiln), PYTHON (default /work/venv-bench/bin/python),
#        EPOCHS (1), THREADS (2), DATA (PNG records; made from the IDX files when absent),
#        IDX (/usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
#
# Writes OUT_DIR/kiln_run (the kiln run directory: metrics.jsonl, best.kiln, ...), kiln.log and
# kiln.time (GNU time: wall, peak RSS), torch.json, torch.log, and prints both results.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-fmnist_bench}
KILN=${KILN:-$root/build/tools/kiln}
PYTHON=${PYTHON:-/work/venv-bench/bin/python}
EPOCHS=${EPOCHS:-1}
THREADS=${THREADS:-2}
IDX=${IDX:-/usr/share/datasets/fashion-mnist}
DATA=${DATA:-$out/fmnist}
mkdir -p "$out"
[[ -f $DATA/train.csv && -f $DATA/test.csv ]] ||
  python3 "$root/scripts/fashion_mnist_to_png.py" --src "$IDX" -o "$DATA"

# DenseNet-BC, the paper's CIFAR stem (one 3x3 conv, stride 1: block 1 sees 28x28), growth 8,
# blocks 4-4-4, 16 initial features, bottleneck 4, compression 0.5 (kiln's transitions).
cat > "$out/fmnist_densenet_bc_small.json" <<'JSON'
{"growth_rate": 8, "block_config": [4, 4, 4], "num_init_features": 16, "bn_size": 4,
 "drop_rate": 0.0, "num_classes": 10, "stem": "small", "input_size_hw": [28, 28],
 "normalize": {"mean": [0.286, 0.286, 0.286], "std": [0.353, 0.353, 0.353]}}
JSON

rm -rf "$out/kiln_run"
/usr/bin/time -f "wall_s %e peak_rss_kb %M user_s %U sys_s %S" -o "$out/kiln.time" \
  "$KILN" train --task image-classification --config "$out/fmnist_densenet_bc_small.json" \
  --train "$DATA/train.csv" --eval "$DATA/test.csv" --metric accuracy \
  --optimizer sgd --momentum 0.9 --nesterov --learning-rate 0.1 --weight-decay 5e-4 \
  --lr-scheduler cosine --max-grad-norm 0 --epochs "$EPOCHS" --per-device-batch-size 64 \
  --crop-scale 0 --hflip 0.5 --threads "$THREADS" --seed 1 --logging-steps 50 \
  -o "$out/kiln_run" > "$out/kiln.log" 2>&1 &
kiln_pid=$!
# OMP_WAIT_POLICY=PASSIVE: torch's OpenMP threads sleep instead of spinning at barriers. On this
# shared 2-core machine (load 15-20 from other work) spinning threads burned most of torch's CPU
# time: 2 threads did not finish 100 updates in 15 minutes, where 1 thread needs ~45 CPU-seconds.
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} /usr/bin/time -f "wall_s %e peak_rss_kb %M user_s %U sys_s %S" -o "$out/torch.time" \
  "$PYTHON" "$here/torch_fmnist.py" --idx-dir "$IDX" --growth 8 --blocks 4,4,4 \
  --init-features 16 --bn-size 4 --lr 0.1 --momentum 0.9 --nesterov --weight-decay 5e-4 \
  --epochs "$EPOCHS" --batch-size 64 --hflip 0.5 --threads "$THREADS" --seed 1 \
  --out "$out/torch.json" > "$out/torch.log" 2>&1 &
torch_pid=$!
wait "$kiln_pid" "$torch_pid"

echo "kiln:  $(grep '"eval"' "$out/kiln_run/metrics.jsonl" | tail -1 |
  "$PYTHON" -c 'import json,sys; r=json.loads(sys.stdin.read()); print("test_accuracy=%.4f epoch=%d" % (r["eval"]["accuracy"], r["epoch"]))') $(cat "$out/kiln.time")"
echo "torch: $(tail -1 "$out/torch.log") $(cat "$out/torch.time")"
