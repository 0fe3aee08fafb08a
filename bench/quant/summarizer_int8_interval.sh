#!/usr/bin/env bash
# int8 against float on the shipped summarizer, on every input its training never updated on:
# CNN/DM and FewSum dev + test (dev picked checkpoints only), BBC test. The shipped bf16 file is
# widened to f32 (the float users get), quantized int8 (--no-speed-check), both summarize as the
# recipe scores (beam 4, per-set lengths), and paired_bootstrap.py gives the relative ROUGE-L
# change with a 95% interval. DATA is examples/summarizer/prepare_data.py's output directory.
#   bench/quant/summarizer_int8_interval.sh DATA [KILN] [OUTDIR]
set -euo pipefail
DATA=${1:?the directory examples/summarizer/prepare_data.py wrote}
KILN=${2:-build/tools/kiln}
OUT=${3:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
pairs=$here/../../examples/summarizer/make_pairs.py
[ -f "$OUT/float.kiln" ] ||
  "$KILN" convert "$here/../../examples/summarizer/summarizer-bf16.kiln" -o "$OUT/float.kiln" --dtype f32
[ -f "$OUT/int8.kiln" ] ||
  "$KILN" quantize -m "$OUT/float.kiln" -o "$OUT/int8.kiln" --scheme int8 --no-speed-check \
    >"$OUT/int8.quantize.txt"
cat "$DATA/cnndm_dev.jsonl" "$DATA/cnndm_test.jsonl" >"$OUT/cnndm.jsonl"
cat "$DATA/fewsum_dev.jsonl" "$DATA/fewsum_test.jsonl" >"$OUT/fewsum.jsonl"
cp "$DATA/bbc_test.jsonl" "$OUT/bbc.jsonl"
GEN=(--num-beams 4 --length-penalty 2.0 --no-repeat-ngram-size 3 --early-stopping true
  --max-source-length 512)
echo "| split | float R-L | int8 R-L | int8 vs float (95% interval) | summaries identical |"
echo "| --- | ---: | ---: | --- | ---: |"
for set in "cnndm 56 142" "fewsum 40 100" "bbc 96 256"; do
  read -r s min max <<<"$set"
  for m in float int8; do
    [ -f "$OUT/$m.$s.summaries.jsonl" ] ||
      "$KILN" summarize -m "$OUT/$m.kiln" -i "$OUT/$s.jsonl" "${GEN[@]}" --min-length "$min" \
        --max-length "$max" >"$OUT/$m.$s.summaries.jsonl" 2>/dev/null
    python3 "$pairs" summaries "$OUT/$m.$s.summaries.jsonl" >"$OUT/$m.$s.pairs.jsonl"
    "$KILN" rouge --use-stemmer -i "$OUT/$m.$s.pairs.jsonl" -o "$OUT/$m.$s.rouge.jsonl"
  done
  python3 "$here/paired_bootstrap.py" "$OUT/$s.jsonl" "$OUT"/{float,int8}."$s".rouge.jsonl \
    "$OUT"/{float,int8}."$s".summaries.jsonl "$s"
done
