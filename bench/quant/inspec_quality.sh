#!/usr/bin/env bash
# Quality of kiln quantize on real data with a model kiln trained: the bundled keyphrase tagger
# (examples/keyphrase-bert-mini.kiln, Inspec train, stored bf16) quantized int8 / q4_0 / q4_1 (and
# q4_0 / q4_1 with --gptq on the calibration abstracts) and
# auto (--max-drop 0.5 entity-F1 points, calibrated on the first 200 Inspec validation abstracts),
# scored on Inspec test (500 abstracts) with kiln eval, plus word-label agreement with the float
# model's kiln tag output. --no-speed-check: the files measure the formats, whatever this machine's
# timing would keep in float. Usage: bench/quant/inspec_quality.sh [KILN] [OUTDIR]
set -euo pipefail
KILN=${1:-build/tools/kiln}
OUT=${2:-$(mktemp -d)}
M=examples/keyphrase-bert-mini.kiln
D=../shared/data/inspec
head -200 "$D/inspec_validation.jsonl" > "$OUT/cal200.jsonl"
for s in int8 q4_0 q4_1; do
  "$KILN" quantize -m "$M" -o "$OUT/$s.kiln" --scheme "$s" --no-speed-check --compress zstd | tail -2
done
for s in q4_0 q4_1; do  # GPTQ rounding weighed by the calibration abstracts' layer inputs
  "$KILN" quantize -m "$M" -o "$OUT/gptq-$s.kiln" --scheme "$s" --gptq --calibration "$OUT/cal200.jsonl" \
    --no-speed-check | tail -2
done
/usr/bin/time -v "$KILN" quantize -m "$M" -o "$OUT/auto.kiln" --scheme auto --no-speed-check \
  --calibration "$OUT/cal200.jsonl" --max-drop 0.5 2> "$OUT/auto.log" | tail -3
grep -E "kiln quantize:|Maximum resident|Elapsed|User time" "$OUT/auto.log"
for m in "$M" "$OUT"/int8.kiln "$OUT"/q4_0.kiln "$OUT"/q4_1.kiln "$OUT"/gptq-q4_0.kiln \
  "$OUT"/gptq-q4_1.kiln "$OUT"/auto.kiln; do
  echo "$m"
  "$KILN" eval -m "$m" --task token-classification -i "$D/inspec_test.jsonl" |
    python3 -c "import json,sys; j=json.load(sys.stdin); print({k: j[k] for k in ['precision','recall','f1','accuracy']})"
  "$KILN" tag -m "$m" --words-field tokens -i "$D/inspec_test.jsonl" > "$OUT/$(basename "$m").tags"
done
python3 - "$OUT/$(basename "$M").tags" "$OUT" <<'P'
import json, sys
def load(f): return [json.loads(l)["labels"] for l in open(f)]
ref = load(sys.argv[1])
for m in ["int8", "q4_0", "q4_1", "gptq-q4_0", "gptq-q4_1", "auto"]:
    got = load(f"{sys.argv[2]}/{m}.kiln.tags")
    n = sum(len(r) for r in ref)
    same = sum(a == b for r, g in zip(ref, got) for a, b in zip(r, g))
    print(m, "word-label agreement %.4f" % (same / n),
          "abstracts identical %.3f" % (sum(r == g for r, g in zip(ref, got)) / len(ref)))
P
