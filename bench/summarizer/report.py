#!/usr/bin/env python3
"""Tables of bench/summarizer/run.sh (standard library only).

  report.py curves STAGE_DIR   loss curves of kiln (STAGE_DIR/kiln-run/metrics.jsonl) and torch
                               (STAGE_DIR/torch.json) per logged window, their differences,
                               tokens/s, wall time and peak RSS (STAGE_DIR/{kiln,torch}.time)
  report.py lockstep STAGE_DIR the same per update with dropout off: loss and gradient norm must
                               agree (relative difference <= 1e-3 / 1e-2); exit 1 otherwise

kiln's window seconds are its logged tokens_per_s inverted with the window's source-token count;
the count comes from torch.json, whose batches are kiln's (same shuffle, same ids: run.sh's
lockstep checks it), and it is cross-checked against the differences of kiln's "time" stamps.
"""
import json
import os
import re
import sys


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def gnu_time(path):
    """(wall s, peak RSS MB) from `/usr/bin/time -v` output."""
    if not os.path.exists(path):
        return None, None
    text = open(path).read()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    secs = None
    if wall:
        secs = 0.0
        for part in wall.group(1).split(":"):
            secs = secs * 60 + float(part)
    return secs, (int(rss.group(1)) / 1024 if rss else None)


def load(stage):
    kiln = [r for r in read_jsonl(os.path.join(stage, "kiln-run", "metrics.jsonl"))
            if "loss" in r and "eval" not in r]
    torch = json.load(open(os.path.join(stage, "torch.json")))
    return kiln, torch


def fmt(x, nd=1):
    return "-" if x is None else f"{x:,.{nd}f}"


def curves(stage):
    kiln, torch = load(stage)
    tlog = {r["step"]: r for r in torch["log"]}
    rows, diffs = [], []
    k_secs = k_src = k_tgt = 0.0
    k_first = None  # the first window's (seconds, source tokens): one-time warm-up inside
    stamp_err = 0.0
    prev_time = None
    for r in kiln:
        t = tlog.get(r["step"])
        if t is None:
            continue
        d = r["loss"] - t["loss"]
        diffs.append(abs(d))
        secs = t["src_tokens"] / r["tokens_per_s"]
        if prev_time is not None:  # the time stamps give the same seconds (logging aside)
            stamp_err = max(stamp_err, abs((r["time"] - prev_time) - secs))
        prev_time = r["time"]
        k_secs += secs
        if k_first is None:
            k_first = (secs, t["src_tokens"])
        k_src += t["src_tokens"]
        k_tgt += t["tgt_tokens"]
        rows.append(f"| {r['step']} | {r['lr']:.3g} | {r['loss']:.4f} | {t['loss']:.4f} | {d:+.4f} "
                    f"| {r['grad_norm']:.3f} | {t['grad_norm']:.3f} | {r['tokens_per_s']:,.0f} "
                    f"| {t['tokens_per_s']:,.0f} |")
    out = [f"## {os.path.basename(os.path.abspath(stage))}: {torch['updates']} of "
           f"{torch['total_updates']} updates (warm-up {torch['warmup_steps']}), "
           f"{torch['examples']} examples, threads {torch['threads']}, bf16 {torch['bf16']}",
           "",
           "Loss: the mean update loss of each logged window (kiln's metrics.jsonl; torch: the "
           "same updates); tokens/s: source tokens per second of the window.",
           "",
           "| step | lr | kiln loss | torch loss | kiln - torch | kiln grad norm | torch grad norm "
           "| kiln tok/s | torch tok/s |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"] + rows
    if diffs:
        out += ["", f"|difference| of the window means over {len(diffs)} windows: max "
                f"{max(diffs):.4f}, mean {sum(diffs) / len(diffs):.4f} (first window included: "
                "both start from the same weights)."]
    kw, kr = gnu_time(os.path.join(stage, "kiln.time"))
    tw, tr = gnu_time(os.path.join(stage, "torch.time"))
    kpeak = max((r.get("peak_rss_mb", 0) for r in kiln), default=None)
    t_src, t_tgt, t_s = torch["src_tokens"], torch["tgt_tokens"], torch["train_wall_s"]
    out += ["",
            "| system | train s | source tok/s | source+target tok/s | process wall s "
            "| peak RSS MB |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| kiln train | {fmt(k_secs)} | {fmt(k_src / k_secs if k_secs else None, 0)} "
            f"| {fmt((k_src + k_tgt) / k_secs if k_secs else None, 0)} | {fmt(kw)} "
            f"| {fmt(kr, 0)} (metrics: {fmt(kpeak, 0)}) |",
            f"| torch {torch['torch']} + transformers {torch['transformers']} | {fmt(t_s)} "
            f"| {fmt(t_src / t_s, 0)} | {fmt((t_src + t_tgt) / t_s, 0)} | {fmt(tw)} "
            f"| {fmt(tr, 0)} (in-process: {fmt(torch['peak_rss_mb'], 0)}) |",
            "",
            f"Tokens in the {torch['updates']} updates: {t_src:,} source + {t_tgt:,} target. "
            f"kiln/torch train-time ratio: {k_secs / t_s:.2f}. kiln's window seconds from its "
            f"tokens_per_s agree with its time stamps to {stamp_err:.3f} s."]
    t0 = torch["log"][0]
    if len(diffs) > 1:  # the first window holds each system's one-time start (allocations, JIT)
        k_rest = (k_src - k_first[1]) / (k_secs - k_first[0])
        t_rest = (t_src - t0["src_tokens"]) / (t_s - t0["secs"])
        out += [f"Without the first window: kiln {k_rest:,.0f}, torch {t_rest:,.0f} source tok/s."]
    out += ["Process wall includes start-up, data reading and tokenization (kiln: all rows; "
            f"torch: the rows the run reaches, {torch['pretokenize_s']} s) and kiln's final "
            f"checkpoint write. Tokenizer check: "
            f"{torch['tokenizer_check']['differ_from_hf_tokenizer']} of "
            f"{torch['tokenizer_check']['texts']} texts encode differently in Hugging Face's "
            "tokenizer."]
    print("\n".join(out))
    return 0


def lockstep(stage):
    kiln, torch = load(stage)
    tlog = {r["step"]: r for r in torch["log"]}
    out = [f"## lockstep {os.path.basename(os.path.abspath(stage))} (dropout 0, per update)", "",
           "| step | lr | kiln loss | torch loss | rel. diff | kiln grad norm | torch grad norm "
           "| rel. diff |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    worst_l = worst_g = 0.0
    n = 0
    for r in kiln:
        t = tlog.get(r["step"])
        if t is None:
            continue
        n += 1
        dl = abs(r["loss"] - t["loss"]) / abs(t["loss"])
        dg = abs(r["grad_norm"] - t["grad_norm"]) / abs(t["grad_norm"])
        worst_l, worst_g = max(worst_l, dl), max(worst_g, dg)
        out.append(f"| {r['step']} | {r['lr']:.3g} | {r['loss']:.6f} | {t['loss']:.6f} | {dl:.1e} "
                   f"| {r['grad_norm']:.5f} | {t['grad_norm']:.5f} | {dg:.1e} |")
    ok = n == len(torch["log"]) and n > 0 and worst_l <= 1e-3 and worst_g <= 1e-2
    out += ["", f"{'PASS' if ok else 'FAIL'}: {n} updates, max relative difference: loss "
            f"{worst_l:.1e}, gradient norm {worst_g:.1e}"]
    print("\n".join(out))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("curves", "lockstep"):
        sys.exit(__doc__)
    sys.exit((curves if sys.argv[1] == "curves" else lockstep)(sys.argv[2]))
