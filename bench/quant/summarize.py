#!/usr/bin/env python3
"""Tables from bench/quant/run.sh's raw lines: bench/quant/summarize.py bench/.scratch/quant/run.txt

Per figure (BERT forward 1x128 and 8x128, BART greedy ms/token): every configuration's median
over the rounds (each round's figure is that process's median of its timed runs), its range, the
ratio to kiln int8 (> 1: kiln int8 is faster), the process CPU time per run or per token (all
threads: the work done, which other processes on a shared host inflate less than wall time), peak RSS (the largest over the rounds) and its file
size. Ratios within a round share the host's load, so the per-round ratios of kiln int8 against
each peer family's fastest configuration are given as median [min, max] too. Then the int8 GEMM
rows of bench_qgemm_bench against its measured VNNI peak.
"""
import re
import statistics
import sys
from collections import defaultdict


def fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def file_of(label, figure):
    """The model file name whose size belongs to a configuration (run.sh's names)."""
    who, _, _ = label.partition("/")
    if figure == "greedy":
        if who.startswith("kiln-"):
            return f"bart-{who[5:]}.kiln"
        return ("torch", "bart", "f32" if who == "torch-f32" else "int8-dynamic")
    if who.startswith("kiln-"):
        return f"bert-{who[5:]}.kiln"
    if who == "ort-f32":
        return "bert_opt.onnx"
    if who.startswith("ort-int8-"):
        return f"bert_int8_{who[9:]}.onnx"
    return ("torch", "bert", "f32" if who == "torch-f32" else "int8-dynamic")


# MiB one BART-base decoder step reads in weights (bench/quant/run.sh's MEMBW_MB), per kiln
# configuration.
STEP_MIB = {"kiln-f32": 336.3, "kiln-int8-head": 84.1, "kiln-q4_0-head": 47.3,
            "kiln-int8": 194.5, "kiln-q4_0": 173.8}


def floor(who, bandwidth):
    """The configuration's floor: (buffer MiB measured, its median GB/s over the rounds, the
    step's weight bytes at that bandwidth in ms), or None without a buffer within 5% of its size."""
    if who not in STEP_MIB or not bandwidth:
        return None
    size = min(bandwidth, key=lambda mb: abs(mb - STEP_MIB[who]))
    if abs(size - STEP_MIB[who]) > 0.05 * STEP_MIB[who]:
        return None
    gbps = statistics.median(bandwidth[size])
    return size, gbps, STEP_MIB[who] * 1.048576 / gbps


def family(who):
    if who.startswith("kiln"):
        return who
    return who.split("-")[0] + ("-int8" if "int8" in who else "-f32")


def main(path):
    sizes, rounds = {}, defaultdict(list)  # rounds[label] = [(round, value, rss, load)]
    cpu = defaultdict(list)  # process CPU ms per forward (all threads), where the line has it
    gemm_lines, rnd = [], 0
    bandwidth = defaultdict(list)  # buffer MB -> GB/s per round (bench_membw_bench)
    for line in open(path):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("# round"):
            rnd += 1
        elif line.startswith("size "):
            sizes[line.split()[1]] = float(fields(line)["file_mb"])
        elif line.startswith("torch-size "):
            f = fields(line)
            sizes[("torch", f["model"], f["weights"])] = float(f["file_mb"])
        elif line.startswith("PEAK read_bandwidth"):
            f = fields(line)
            bandwidth[float(f["mb"])].append(float(f["gbps_median"]))
        elif line.startswith(("PEAK", "| ", "RESULT", "# threads=", "# bench_qgemm")):
            gemm_lines.append(line)
        elif not line.startswith("#") and "/" in line.split()[0]:
            label = line.split()[0]
            f = fields(line)
            key = "per_token_ms" if label.endswith("/greedy") else "median_ms"
            if key in f:
                rounds[label].append((rnd, float(f[key]), float(f["peak_rss_mb"]), f.get("load")))
                ckey = "cpu_per_token_ms" if key == "per_token_ms" else "cpu_ms"
                if ckey in f:
                    cpu[label].append(float(f[ckey]))
    figures = [("b1", "BERT-base forward 1x128, ms"), ("b8", "BERT-base forward 8x128, ms"),
               ("greedy", "BART-base greedy decoding, ms per new token")]
    for fig, title in figures:
        labels = [lb for lb in rounds if lb.endswith("/" + fig)]
        if not labels:
            continue
        med = {lb: statistics.median(v for _, v, _, _ in rounds[lb]) for lb in labels}
        base = "kiln-int8/" + fig
        print(f"\n### {title}\n")
        print("| configuration | median | range over rounds | vs kiln int8 | CPU ms per run "
              "(all threads) | CPU vs kiln int8 | peak RSS MB | file MB |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        cmed = {lb: statistics.median(cpu[lb]) for lb in labels if cpu[lb]}
        best = {}
        for lb in sorted(labels, key=lambda x: med[x]):
            who = lb.split("/")[0]
            fam = family(who)
            if fam not in best:
                best[fam] = lb
            vals = [v for _, v, _, _ in rounds[lb]]
            ratio = f"{med[lb] / med[base]:.2f}x" if base in med else "-"
            size = sizes.get(file_of(lb, fig))
            c = f"{cmed[lb]:.1f}" if lb in cmed else "-"
            cr = f"{cmed[lb] / cmed[base]:.2f}x" if lb in cmed and base in cmed else "-"
            print(f"| {who}{' *' if best[fam] == lb and not fam.startswith('kiln') else ''} | "
                  f"{med[lb]:.2f} | {min(vals):.2f}-{max(vals):.2f} | {ratio} | {c} | {cr} | "
                  f"{max(r for _, _, r, _ in rounds[lb]):.0f} | "
                  f"{'-' if size is None else f'{size:.1f}'} |")
        print("\n(* = the fastest configuration of that peer family, the one quoted.)")
        if fig == "greedy" and bandwidth:
            print("\nFloors: the step's weight bytes / the read bandwidth bench_membw_bench "
                  "measured on a buffer of that size, median over the rounds:")
            for lb in sorted(labels, key=lambda x: med[x]):
                who = lb.split("/")[0]
                fl = floor(who, bandwidth)
                if fl is not None:
                    _, gbps, ms = fl
                    print(f"- {who}: {STEP_MIB[who]:.1f} MiB at {gbps:.1f} GB/s = {ms:.2f} ms; "
                          f"measured {med[lb]:.2f} ms ({ms / med[lb]:.0%} of the bandwidth)")
        if base not in rounds:
            continue
        print(f"\nPer-round ratios, configuration / {base.split('/')[0]} (same round, same load):")
        by_round = {r: v for r, v, _, _ in rounds[base]}
        for fam, lb in sorted(best.items()):
            if lb == base:
                continue
            rs = [v / by_round[r] for r, v, _, _ in rounds[lb] if r in by_round]
            if rs:
                print(f"- {lb.split('/')[0]}: median {statistics.median(rs):.2f}x "
                      f"[{min(rs):.2f}, {max(rs):.2f}] over {len(rs)} rounds")
        loads = [float(ld) for lb in labels for _, _, _, ld in rounds[lb] if ld]
        if loads:
            print(f"- load average during these processes: {min(loads):.1f}-{max(loads):.1f}")
    if gemm_lines:
        print("\n### int8 GEMM (bench_qgemm_bench) at BERT-base shapes\n")
        print("\n".join(gemm_lines))


if __name__ == "__main__":
    main(sys.argv[1])
