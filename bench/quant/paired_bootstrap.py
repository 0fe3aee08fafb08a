#!/usr/bin/env python3
"""Relative ROUGE-L of a quantized summarizer against its float model, with a 95% paired
bootstrap interval over inputs (standard library only).

    paired_bootstrap.py INPUTS.jsonl FLOAT_ROUGE.jsonl QUANT_ROUGE.jsonl FLOAT_SUM.jsonl QUANT_SUM.jsonl NAME

The ROUGE files are `kiln rouge` per-pair lines; an input with several gold summaries (FewSum:
3) has that many consecutive pairs, averaged into one value, so its golds are resampled
together. Prints one Markdown table row: float and quantized mean ROUGE-L F x100, the relative
change with its interval, and the share of summaries identical to float's.
"""
import json
import random
import sys


def per_input(rouge_path, n_inputs):
    rows = [json.loads(line) for line in open(rouge_path, encoding="utf-8")]
    golds = len(rows) // n_inputs
    if golds == 0 or golds * n_inputs != len(rows):
        sys.exit(f"paired_bootstrap.py: {rouge_path}: {len(rows)} pairs for {n_inputs} inputs")
    return [sum(r["rougeL"]["fmeasure"] for r in rows[i * golds:(i + 1) * golds]) / golds
            for i in range(n_inputs)], golds


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__.strip().splitlines()[3].strip())
    inputs, float_rouge, quant_rouge, float_sum, quant_sum, name = sys.argv[1:]
    n = sum(1 for line in open(inputs, encoding="utf-8") if line.strip())
    base, golds = per_input(float_rouge, n)
    quant, _ = per_input(quant_rouge, n)

    def relative(idx):
        return sum(quant[i] for i in idx) / sum(base[i] for i in idx) - 1

    rng = random.Random(1)
    draws = sorted(relative([rng.randrange(n) for _ in range(n)]) for _ in range(10000))
    summaries = lambda path: [json.loads(line)["summary"] for line in open(path, encoding="utf-8")]
    same = sum(a == b for a, b in zip(summaries(float_sum), summaries(quant_sum)))
    print(f"| {name} ({n} inputs, {golds} gold each) | {100 * sum(base) / n:.2f} | "
          f"{100 * sum(quant) / n:.2f} | {100 * relative(range(n)):+.1f}% "
          f"[{100 * draws[250]:+.1f}, {100 * draws[9750]:+.1f}] | {100 * same / n:.0f}% |")


if __name__ == "__main__":
    main()
