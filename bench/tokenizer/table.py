#!/usr/bin/env python3
"""Formats the JSON lines of run.sh into a Markdown table, with kiln / HF ratios.
  table.py RESULTS_JSONL
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
hf = {(r["tokenizer"], r["threads"]): r for r in rows if r["impl"] == "hf-tokenizers"}
print("| tokenizer | implementation | threads | MB/s | tokens/s | tokens | kiln / HF |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    ref = hf.get((r["tokenizer"], r["threads"])) if r["impl"] == "kiln" else None
    ratio = f"{r['mb_per_s'] / ref['mb_per_s']:.2f}x" if ref else ""
    same = " (token count differs!)" if ref and ref["tokens"] != r["tokens"] else ""
    print(f"| {r['tokenizer']} | {r['impl']} | {r['threads']} | {r['mb_per_s']:.2f} | "
          f"{round(r['tokens_per_s']):,} | {r['tokens']} | {ratio}{same} |")
print(f"\ncorpus: {rows[0]['texts']} texts, {rows[0]['bytes'] / 1e6:.2f} MB")
