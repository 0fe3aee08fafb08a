#!/usr/bin/env bash
# The q4 few-row arithmetic on a real task: the shipped summarizer (examples/summarizer,
# bf16 weights) quantized q4_0 once, then scored on the recipe's held-out test splits (beam 4,
# per-set lengths, kiln rouge --use-stemmer) twice from the same file: with the default
# q4 x q8 decoder-step kernel (activations in s8 per 32-block, integer dots) and with
# KILN_Q4_GEMV=f32 (nibbles expanded to f32), plus the unquantized model. Beam search decodes 4
# rows per step, so every decoder step takes the few-row path. The two q4 runs go side by side,
# 1 thread each. Prints a table; its files stay in OUTDIR.
#   bench/quant/q4_gemv_ab.sh [KILN] [OUTDIR] [SHARED]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K=${1:-$here/../../build/tools/kiln}
OUT=${2:-$(mktemp -d)}
SHARED=${3:-$here/../../../shared}
S=$here/../../examples/summarizer
cd "$OUT"
[ -f data/bbc_test.jsonl ] || python3 "$S/prepare_data.py" -o data --data "$SHARED/data" >/dev/null
[ -f q4_0.kiln ] ||
  "$K" quantize -m "$S/summarizer-bf16.kiln" -o q4_0.kiln --scheme q4_0 --no-speed-check | tail -2
GEN=(--num-beams 4 --length-penalty 2.0 --no-repeat-ngram-size 3 --early-stopping true
  --max-source-length 512)
one() {  # one NAME MODEL ENV...
  local name=$1 model=$2
  shift 2
  for set in "bbc 96 256" "cnndm 56 142" "fewsum 40 100"; do
    read -r s min max <<<"$set"
    if [ ! -f "$name.$s.summaries.jsonl" ]; then
      env "$@" "$K" summarize -m "$model" -i "data/${s}_test.jsonl" "${GEN[@]}" --min-length "$min" \
        --max-length "$max" --threads 1 >"$name.$s.summaries.jsonl.tmp" 2>/dev/null
      mv "$name.$s.summaries.jsonl.tmp" "$name.$s.summaries.jsonl"
    fi
    python3 "$S/make_pairs.py" summaries "$name.$s.summaries.jsonl" >"$name.$s.pairs.jsonl"
    "$K" rouge --use-stemmer --aggregate -i "$name.$s.pairs.jsonl" -o "$name.$s.rouge.json"
  done
}
one q8 q4_0.kiln KILN_Q4_GEMV=q8 &
one f32gemv q4_0.kiln KILN_Q4_GEMV=f32 &
wait
one float "$S/summarizer-bf16.kiln" KILN_Q4_GEMV=q8
python3 - <<'P'
import json
print("| variant | BBC R-1 / R-2 / R-L | CNN/DM R-1 / R-2 / R-L | FewSum R-1 / R-2 / R-L | summaries identical to q4_0 f32-GEMV's |")
print("| --- | --- | --- | --- | --- |")
for name in ["float", "f32gemv", "q8"]:
    cells, same = [], []
    for s in ["bbc", "cnndm", "fewsum"]:
        m = json.load(open(f"{name}.{s}.rouge.json"))
        cells.append(" / ".join("%.2f" % (100 * m[k]["fmeasure"]) for k in ("rouge1", "rouge2", "rougeL")))
        a = [json.loads(l)["summary"] for l in open(f"{name}.{s}.summaries.jsonl")]
        b = [json.loads(l)["summary"] for l in open(f"f32gemv.{s}.summaries.jsonl")]
        same.append("%.0f%%" % (100 * sum(x == y for x, y in zip(a, b)) / len(b)))
    print(f"| {name} | " + " | ".join(cells) + " | " + ", ".join(same) + " |")
P
