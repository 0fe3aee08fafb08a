#!/usr/bin/env bash
# The issue's simple baselines on the recipe's held-out test splits (and, for comparison with the
# issue's figures, on all 2,225 BBC articles and on FewSum's test split):
#   - Lead-3: the first three sentences of the article (make_pairs.py's sentence rule: cut at line
#     breaks, and after . ! ? followed by whitespace and a capital, digit or opening quote), joined
#     with a space: one line, as kiln summarize's output is scored;
#   - the longest review (by characters) of a FewSum group as its summary, scored against each of
#     the group's 3 gold summaries (the mean over the 180 (group, gold) pairs of the test split),
#     and against the first gold only (60 pairs: how the issue's 25.3 / 3.9 / 15.5 was computed).
# Scores: kiln rouge --use-stemmer --aggregate (rouge-score 0.1.2 with stemming), F-measure x100.
#
#   examples/summarizer/baselines.sh DATA_DIR [OUT_DIR]
# DATA_DIR is prepare_data.py's output; OUT_DIR (default DATA_DIR/../baselines) receives the pair
# files, the aggregate lines and baselines.md (each written atomically). KILN names the binary
# (default: build/tools/kiln).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
KILN=${KILN:-$root/build/tools/kiln}
data=${1:?usage: baselines.sh DATA_DIR [OUT_DIR]}
out=${2:-$data/../baselines}
shared_data=${SHARED_DATA:-$root/../shared/data}
[ -x "$KILN" ] || { echo "baselines.sh: no kiln binary at $KILN (set KILN=...)" >&2; exit 1; }
mkdir -p "$out"

# score NAME PAIRS_PRODUCER...: pairs -> aggregate ROUGE; prints "R-1 R-2 R-L R-Lsum pairs".
score() {
  local name=$1
  shift
  "$@" >"$out/$name.pairs.jsonl.tmp"
  mv "$out/$name.pairs.jsonl.tmp" "$out/$name.pairs.jsonl"
  "$KILN" rouge --use-stemmer --aggregate -i "$out/$name.pairs.jsonl" -o "$out/$name.rouge.json"
  python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(" | ".join("%.1f" % (100 * m[k]["fmeasure"]) for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")), "|", sys.argv[2])' \
    "$out/$name.rouge.json" "$(wc -l <"$out/$name.pairs.jsonl")"
}

# All 2,225 BBC articles as {"text", "summary"} (the issue's "BBC News, all 2,225" row).
python3 - "$shared_data/bbc_news/bbc_news_summary.jsonl" >"$out/bbc_all.jsonl.tmp" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    print(json.dumps({"id": r["id"], "text": r["article"], "summary": r["summary"]}, ensure_ascii=False))
PY
mv "$out/bbc_all.jsonl.tmp" "$out/bbc_all.jsonl"

{
  echo "| data | baseline | R-1 | R-2 | R-L | R-Lsum | pairs |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  echo "| BBC News, all 2,225 | Lead-3 | $(score bbc_all_lead3 python3 "$here/make_pairs.py" lead3 "$out/bbc_all.jsonl") |"
  echo "| BBC News, all 2,225 | Lead-3, sentences on lines | $(score bbc_all_lead3_lines python3 "$here/make_pairs.py" lead3 --sep newline "$out/bbc_all.jsonl") |"
  echo "| BBC News test split | Lead-3 | $(score bbc_test_lead3 python3 "$here/make_pairs.py" lead3 "$data/bbc_test.jsonl") |"
  echo "| CNN/DM test split | Lead-3 | $(score cnndm_test_lead3 python3 "$here/make_pairs.py" lead3 "$data/cnndm_test.jsonl") |"
  echo "| XSum test split | Lead-1 | $(score xsum_test_lead1 python3 "$here/make_pairs.py" lead3 --count 1 "$data/xsum_test.jsonl") |"
  echo "| FewSum test (Amazon + Yelp), each of 3 golds | longest review | $(score fewsum_test_longest python3 "$here/make_pairs.py" longest "$data/fewsum_test.jsonl") |"
  echo "| FewSum test (Amazon + Yelp), first gold | longest review | $(score fewsum_test_longest_first python3 "$here/make_pairs.py" longest --first-gold "$data/fewsum_test.jsonl") |"
} >"$out/baselines.md.tmp"
mv "$out/baselines.md.tmp" "$out/baselines.md"
cat "$out/baselines.md"
