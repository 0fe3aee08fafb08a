#!/usr/bin/env python3
"""Builds the benchmark corpus: real English news and reviews from ../shared/data, one
{"text": ...} line per document (BBC articles, CNN/DailyMail articles, AG News items, FewSum
reviews), so kiln and Hugging Face tokenizers read exactly the same inputs.
  make_corpus.py SHARED_DATA_DIR OUT_JSONL
"""
import json
import os
import sys

SOURCES = [
    ("bbc_news/bbc_news_summary.jsonl", lambda r: [r["article"]]),
    ("news/cnndm_frank.jsonl", lambda r: [r["article"]]),
    ("ag_news/test.jsonl", lambda r: [r["text"]]),
    ("fewsum/amazon/train.jsonl", lambda r: r["reviews"]),
    ("fewsum/yelp/train.jsonl", lambda r: r["reviews"]),
]


def main():
    data_dir, out_path = sys.argv[1:3]
    out = []
    for rel, pick in SOURCES:
        path = os.path.join(data_dir, rel)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    out += [t for t in pick(json.loads(line)) or [] if isinstance(t, str) and t]
    # UTF-8 text (not \u escapes) and no spaces after separators: byte for byte the corpus that the
    # earlier Node make_corpus.js wrote for bench/results/tokenizer.md.
    with open(out_path, "w", encoding="utf-8") as f:
        for t in out:
            f.write(json.dumps({"text": t}, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"corpus: {len(out)} texts, {os.path.getsize(out_path)} bytes -> {out_path}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
