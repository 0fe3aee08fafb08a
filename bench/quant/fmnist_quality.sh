#!/usr/bin/env bash
# Quality of kiln quantize on quantized convolutions: a DenseNet kiln trained on Fashion-MNIST
# (PNG files listed in train.csv / test.csv, "image,label") quantized int8 / q4_0 / q4_1 (every
# dense-layer and transition conv; the stem conv and the classifier stay float by default), q4_0 /
# q4_1 with --gptq on the calibration images, and
# auto (--max-drop 0.5 accuracy points, calibrated on CAL images from the start of train.csv, a
# subset the model was trained on), each scored on the whole test set by kiln classify: accuracy
# against the CSV's labels and agreement with the float model's predicted classes; sizes from
# kiln quantize's own report (tensor data vs f32, and with zstd).
# Usage: bench/quant/fmnist_quality.sh MODEL DATA_DIR [KILN] [OUTDIR] [CAL (0: no auto)]
set -euo pipefail
M=$1
D=$2
KILN=${3:-build/tools/kiln}
OUT=${4:-$(mktemp -d)}
CAL=${5:-1000}
echo "model $M, data $D, out $OUT, calibration $CAL train images"
# The calibration file lives in OUT; its relative image paths resolve under --image-dir D.
CALF="$OUT/cal.csv"
head -$((CAL + 1)) "$D/train.csv" > "$CALF"
for s in int8 q4_0 q4_1; do
  "$KILN" quantize -m "$M" -o "$OUT/$s.kiln" --scheme "$s" > "$OUT/$s.log"
  "$KILN" quantize -m "$M" -o "$OUT/$s.zst.kiln" --scheme "$s" --compress zstd |
    grep "tensor data" | sed "s/^/$s: /"
done
MODELS="float int8 q4_0 q4_1"
if [ "$CAL" -gt 0 ]; then  # CAL 0: no auto or GPTQ rows
  for s in q4_0 q4_1; do  # GPTQ: each conv's rounding weighed by its receptive fields on CAL
    "$KILN" quantize -m "$M" -o "$OUT/gptq-$s.kiln" --scheme "$s" --gptq --calibration "$CALF" \
      --image-dir "$D" > "$OUT/gptq-$s.log"
  done
  MODELS="$MODELS gptq-q4_0 gptq-q4_1 auto"
  /usr/bin/time -v "$KILN" quantize -m "$M" -o "$OUT/auto.kiln" --scheme auto --metric accuracy \
    --calibration "$CALF" --image-dir "$D" --max-drop 0.5 > "$OUT/auto.log" 2> "$OUT/auto.err"
  grep -E "kiln quantize:|Maximum resident|Elapsed" "$OUT/auto.err"
  grep -E "tensors quantized|tensor data" "$OUT/auto.log" | sed "s/^/auto: /"
fi
for m in $MODELS; do
  f="$OUT/$m.kiln"
  [ "$m" = float ] && f="$M"
  /usr/bin/time -f "$m classify: %e s, peak RSS %M KB" "$KILN" classify -m "$f" \
    -i "$D/test.csv" --batch-size 64 > "$OUT/$m.pred.jsonl"
done
python3 - "$OUT" $MODELS <<'P'
import json, sys
def load(f): return [json.loads(l) for l in open(f)]
ref = load(f"{sys.argv[1]}/float.pred.jsonl")
for m in sys.argv[2:]:
    got = load(f"{sys.argv[1]}/{m}.pred.jsonl")
    acc = sum(g["label"] == g["input_label"] for g in got) / len(got)
    agree = sum(g["label"] == r["label"] for g, r in zip(got, ref)) / len(ref)
    print(f"{m}: accuracy {100 * acc:.2f} on {len(got)} test images, agreement with float {100 * agree:.2f}%")
P
