#!/usr/bin/env bash
# Quality of kiln quantize on the summarizer kiln trained (examples/summarizer/recipe.sh): the
# recipe's float fine-tuned model (OUT/finetune/best.kiln, f32) quantized int8 / q4_0 / q4_1
# (--no-speed-check: the files measure the formats, whatever this machine's timing would keep in
# float), each scored on the recipe's held-out test splits exactly as the recipe scores the float
# model (kiln summarize, beam 4, per-set lengths; kiln rouge --use-stemmer --aggregate), plus the
# share of summaries identical to the float model's.
# With AUTO=1 it also runs --scheme auto (--max-drop ${MAX_DROP:-0.5} ROUGE-L points on
# ${AUTO_CAL:-a calibration set of the recipe's dev splits: 12 BBC, 6 CNN/DM, 6 FewSum}, greedy
# calibration decoding of at most 80 new tokens) and scores it the same way. With GPTQ=1 it also
# makes q4_0 and q4_1 with --gptq on that calibration set (the same greedy decoding feeds the
# layers' inputs) and scores them. A quantized file already in OUTDIR is scored, not made again.
#   bench/quant/summarizer_quality.sh RECIPE_OUT [KILN] [OUTDIR]
set -euo pipefail
RUN=${1:?the recipe output directory (OUT of examples/summarizer/recipe.sh)}
KILN=${2:-build/tools/kiln}
OUT=${3:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
pairs=$here/../../examples/summarizer/make_pairs.py
GEN=(--num-beams 4 --length-penalty 2.0 --no-repeat-ngram-size 3 --early-stopping true
  --max-source-length 512)
score() {  # score NAME MODEL: one table row per test split
  local name=$1 model=$2
  for set in "bbc 96 256" "cnndm 56 142" "fewsum 40 100"; do
    read -r s min max <<<"$set"
    [ -f "$OUT/$name.$s.summaries.jsonl" ] ||
      "$KILN" summarize -m "$model" -i "$RUN/eval/$s.test.jsonl" "${GEN[@]}" --min-length "$min" \
        --max-length "$max" >"$OUT/$name.$s.summaries.jsonl" 2>/dev/null
    python3 "$pairs" summaries "$OUT/$name.$s.summaries.jsonl" >"$OUT/$name.$s.pairs.jsonl"
    "$KILN" rouge --use-stemmer --aggregate -i "$OUT/$name.$s.pairs.jsonl" -o "$OUT/$name.$s.rouge.json"
    python3 - "$OUT/$name.$s.rouge.json" "$OUT/$name.$s.summaries.jsonl" \
      "$OUT/float.$s.summaries.jsonl" "$name" "$s" <<'P'
import json, os, sys
m = json.load(open(sys.argv[1]))
mine = [json.loads(l)["summary"] for l in open(sys.argv[2])]
same = "-"
if os.path.exists(sys.argv[3]) and sys.argv[2] != sys.argv[3]:
    ref = [json.loads(l)["summary"] for l in open(sys.argv[3])]
    same = "%.0f%%" % (100.0 * sum(a == b for a, b in zip(mine, ref)) / len(ref))
print("| %s | %s | %s | %s |" % (sys.argv[4], sys.argv[5], " | ".join(
    "%.2f" % (100 * m[k]["fmeasure"]) for k in ("rouge1", "rouge2", "rougeL")), same))
P
  done
}
# The float model's summaries: the recipe's own evaluation (same model, same flags).
for s in bbc cnndm fewsum; do cp "$RUN/eval/$s.summaries.jsonl" "$OUT/float.$s.summaries.jsonl"; done
echo "| model | test split | R-1 | R-2 | R-L | summaries identical to float |"
echo "| --- | --- | --- | --- | --- | --- |"
score float "$RUN/finetune/best.kiln"
for s in int8 q4_0 q4_1; do
  [ -f "$OUT/$s.kiln" ] ||
    "$KILN" quantize -m "$RUN/finetune/best.kiln" -o "$OUT/$s.kiln" --scheme "$s" \
      --no-speed-check >"$OUT/$s.quantize.txt"
  score "$s" "$OUT/$s.kiln"
done
cal=${AUTO_CAL:-$OUT/auto_calibration.jsonl}
if [ "${AUTO:-0}" = 1 ] || [ "${GPTQ:-0}" = 1 ]; then
  [ -n "${AUTO_CAL:-}" ] || (head -12 "$RUN/data/bbc_dev.jsonl"; head -6 "$RUN/data/cnndm_dev.jsonl"
    head -6 "$RUN/data/fewsum_dev.jsonl") >"$cal"
fi
if [ "${GPTQ:-0}" = 1 ]; then
  for s in q4_0 q4_1; do
    [ -f "$OUT/gptq-$s.kiln" ] ||
      "$KILN" quantize -m "$RUN/finetune/best.kiln" -o "$OUT/gptq-$s.kiln" --scheme "$s" --gptq \
        --task summarization --calibration "$cal" --generation-num-beams 1 \
        --generation-max-new-tokens 80 --no-speed-check >"$OUT/gptq-$s.quantize.txt"
    score "gptq-$s" "$OUT/gptq-$s.kiln"
  done
fi
if [ "${AUTO:-0}" = 1 ]; then
  [ -f "$OUT/auto.kiln" ] ||
    "$KILN" quantize -m "$RUN/finetune/best.kiln" -o "$OUT/auto.kiln" --scheme auto \
      --task summarization --calibration "$cal" --max-drop "${MAX_DROP:-0.5}" --metric rougeL \
      --generation-num-beams 1 --generation-max-new-tokens 80 --no-speed-check \
      >"$OUT/auto.quantize.txt" 2>"$OUT/auto.quantize.log"
  score auto "$OUT/auto.kiln"
fi
ls -l "$RUN/finetune/best.kiln" "$OUT"/*.kiln | awk '{print $5, $9}'
grep -h "tensors quantized" "$OUT"/*.quantize.txt
