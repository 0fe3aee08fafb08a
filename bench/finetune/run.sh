#!/usr/bin/env bash
# The first hour of a kiln user, as a script (issue 11): start from the checkpoints people
# download, fine-tune them on their own labels, score, and check that `kiln classify` agrees.
#   1. kiln convert the roberta-model fixture (a bare RobertaModel) and bert-mlm (BertForMaskedLM,
#      the Hub's bert-base-* shape: its MLM head is dropped and it has no pooler);
#   2. kiln train --task sequence-classification on AG News with the data's four labels (a fresh
#      head, initialised as transformers does; the manifest lists the new parameters);
#   3. kiln eval on held-out rows: loss, accuracy, macro-F1, per-class scores, confusion matrix;
#   4. kiln classify on the same rows, whose accuracy must equal eval's exactly.
#   bench/finetune/run.sh [TRAIN_ROWS=2000] [EVAL_ROWS=1000] [THREADS=2]
# Environment: KILN=path (default build/tools/kiln), EPOCHS (default 4), LR (default 2e-3).
# The fixtures are tiny (hidden 16-32, 2 layers, lightly pre-trained), so the accuracies show the
# pipeline working, not what bert-base reaches. Outputs go to bench/.scratch/finetune/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHARED="$(cd "$ROOT/../shared" && pwd)"
TRAIN_ROWS="${1:-2000}"
EVAL_ROWS="${2:-1000}"
THREADS="${3:-2}"
EPOCHS="${EPOCHS:-4}"
LR="${LR:-2e-3}"
KILN="$(realpath "${KILN:-$ROOT/build/tools/kiln}")"
[[ -x "$KILN" ]] || { echo "no kiln binary at $KILN (ninja -C build kiln)" >&2; exit 1; }
OUT="$ROOT/bench/.scratch/finetune"
rm -rf "$OUT" && mkdir -p "$OUT"
# AG News: train on the first rows of dev.jsonl, score on the first rows of test.jsonl.
head -n "$TRAIN_ROWS" "$SHARED/data/ag_news/dev.jsonl" > "$OUT/train.jsonl"
head -n "$EVAL_ROWS" "$SHARED/data/ag_news/test.jsonl" > "$OUT/test.jsonl"

printf '| start | stored as | newly initialised | eval loss | eval accuracy | macro-F1 | classify accuracy | train s |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
for fixture in roberta-model bert-mlm; do
  dir="$OUT/$fixture"
  mkdir -p "$dir"
  "$KILN" convert "$SHARED/refs/models/$fixture" -o "$dir/model.kiln" 2> "$dir/convert.log"
  start=$(date +%s.%N)
  "$KILN" train --task sequence-classification --model "$dir/model.kiln" \
    --train "$dir/../train.jsonl" --output "$dir/run" --epochs "$EPOCHS" --learning-rate "$LR" \
    --max-length 64 --per-device-batch-size 16 --warmup-ratio 0.1 --threads "$THREADS" \
    --seed 1 2> "$dir/train.log"
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  "$KILN" eval -m "$dir/run/best.kiln" --task sequence-classification -i "$OUT/test.jsonl" \
    --threads "$THREADS" > "$dir/eval.json"
  "$KILN" classify -m "$dir/run/best.kiln" -i "$OUT/test.jsonl" --threads "$THREADS" \
    > "$dir/classify.jsonl"
  python3 - "$fixture" "$dir" "$OUT/test.jsonl" "$secs" <<'PY'
import json, sys
fixture, d, test, secs = sys.argv[1:]
ev = json.load(open(f"{d}/eval.json"))
gold = [json.loads(l)["label"] for l in open(test)]
pred = [json.loads(l)["label"] for l in open(f"{d}/classify.jsonl")]
acc = sum(g == p for g, p in zip(gold, pred)) / len(gold)
assert len(gold) == len(pred), "classify wrote a different number of lines"
assert acc == ev["accuracy"], f"classify accuracy {acc} != eval accuracy {ev['accuracy']}"
m = json.load(open(f"{d}/run/manifest.json"))
new = ", ".join(m["model_init"]["newly_initialized"])
arch = "bare encoder" if fixture == "roberta-model" else "bare encoder (MLM head dropped)"
print(f"| {fixture} | {arch} | {new} | {ev['loss']:.4f} | {ev['accuracy']:.4f} | "
      f"{ev['macro_f1']:.4f} | {acc:.4f} | {float(secs):.1f} |")
PY
done
echo
echo "eval JSON, manifests and logs: $OUT"
