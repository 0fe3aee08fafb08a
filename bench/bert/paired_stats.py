#!/usr/bin/env python3
"""Summary of paired runs: per-pair ratios B / A (> 1: A faster), where each line reads
`pair N A_ms=X B_ms=Y` (bench/bert/paired.sh: kiln and ort; bench/bert/ab_commits.sh: new and old).

Prints the median ratio, a percentile-bootstrap 95% interval of that median (10,000 resamples,
fixed seed, so the same file always gives the same interval) and a one-sided sign test of
"kiln is faster in more than half of the pairs" (exact binomial tail). No pair is left out: the median and
the sign test are already robust to a pair where the host stalled one of the two processes.
"""
import math
import random
import re
import sys


def quantile(sorted_values, q):
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median(values):
    return quantile(sorted(values), 0.5)


def main(path):
    ratios = []
    names = ("kiln", "ORT")
    pattern = re.compile(r"^pair \d+ (\w+)_ms=([0-9.]+) (\w+)_ms=([0-9.]+)")
    with open(path) as f:
        for line in f:
            m = pattern.match(line)
            if m:
                names = (m.group(1), m.group(3) if m.group(3) != "ort" else "ORT")
                ratios.append(float(m.group(4)) / float(m.group(2)))
    if len(ratios) < 3:
        sys.exit(f"{path}: fewer than 3 complete pairs")
    rng = random.Random(1)
    boots = sorted(median([rng.choice(ratios) for _ in ratios]) for _ in range(10000))
    wins = sum(r > 1 for r in ratios)
    n = len(ratios)
    # P(X >= wins) for X ~ Binomial(n, 1/2): the chance of this many A wins if both were equal.
    p = sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n
    print(f"# pairs={n}")
    print(f"# ratio {names[1]}/{names[0]}: median={median(ratios):.3f} bootstrap95=[{quantile(boots, 0.025):.3f}, "
          f"{quantile(boots, 0.975):.3f}] min={min(ratios):.3f} max={max(ratios):.3f}")
    print(f"# {names[0]} faster in {wins}/{n} pairs; sign test p={p:.2g} (one-sided)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: paired_stats.py PAIRED_OUTPUT")
    main(sys.argv[1])
