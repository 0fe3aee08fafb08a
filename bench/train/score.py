#!/usr/bin/python3
"""Shared scorer of bench/train: the same metrics kiln train's evaluation computes
(train/metrics.cpp), used for both systems' test splits.

  score.py tag GOLD.jsonl PRED.jsonl        # PRED: `kiln tag` output for GOLD's words
  score.py classify GOLD.jsonl PRED.jsonl   # PRED: `kiln classify` output for GOLD's texts
  score.py tag-input GOLD.jsonl > words.jsonl   # {"words": tokens} lines for `kiln tag`
  score.py report OUT_DIR                   # bench/train/run.sh's table + cross-checks for a task
  score.py lockstep KILN_RUN TORCH.json     # run.sh lockstep: per-update agreement from one start

Tagging: seqeval's default (non-strict) entity scores over IOB2 tags: an I- that does not continue
an open entity of its type opens one; an entity is correct when type, first and last word match;
micro-averaged; 0/0 scores 0. Classification: accuracy and macro-F1 over the classes present in
gold or predictions (sklearn's f1_score(average="macro")). Prints one JSON object.
"""
import json
import os
import re
import sys


def iob2_spans(tags):
    """(type, first_word, end_word) per entity, as train/iob.cpp."""
    spans, open_ = [], False
    for i, t in enumerate(tags):
        begin, inside = t.startswith("B-"), t.startswith("I-")
        typ = t[2:] if (begin or inside) else ""
        if inside and open_ and spans[-1][0] == typ:
            spans[-1][2] = i + 1
            continue
        open_ = False
        if begin or inside:
            spans.append([typ, i, i + 1])
            open_ = True
    return [tuple(s) for s in spans]


def entity_scores(gold, pred):
    assert len(gold) == len(pred), f"{len(gold)} gold vs {len(pred)} predicted sentences"
    n_gold = n_pred = n_right = words = right_words = 0
    for g, p in zip(gold, pred):
        assert len(g) == len(p), f"sentence with {len(g)} gold vs {len(p)} predicted tags"
        right_words += sum(a == b for a, b in zip(g, p))
        words += len(g)
        gs = set(iob2_spans(g))
        ps = iob2_spans(p)
        n_gold += len(gs)
        n_pred += len(ps)
        n_right += sum(s in gs for s in ps)
    prec = n_right / n_pred if n_pred else 0.0
    rec = n_right / n_gold if n_gold else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"precision": prec, "recall": rec, "f1": f1,
            "accuracy": right_words / words if words else 0.0,
            "entities": n_gold, "predicted": n_pred, "correct": n_right}


def class_scores(gold, pred):
    assert len(gold) == len(pred), f"{len(gold)} gold vs {len(pred)} predicted labels"
    per = {}
    right = 0
    for g, p in zip(gold, pred):
        if g == p:
            right += 1
            per.setdefault(g, [0, 0, 0])[0] += 1
        else:
            per.setdefault(g, [0, 0, 0])[2] += 1
            per.setdefault(p, [0, 0, 0])[1] += 1
    f1s = []
    for tp, fp, fn in per.values():
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * pr * rc / (pr + rc) if pr + rc > 0 else 0.0)
    return {"accuracy": right / len(gold) if gold else 0.0,
            "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0, "examples": len(gold)}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def align_kiln_tags(words, out):
    """`kiln tag` leaves out words whose encoding is empty (no token to predict from); they are
    'O' here, as in kiln train's evaluation. Equal strings encode equally, so a greedy match of the
    output words against the input words is exact."""
    tags, k = [], 0
    out_words, out_tags = out["words"], out["labels"]
    for w in words:
        if k < len(out_words) and out_words[k] == w:
            tags.append(out_tags[k])
            k += 1
        else:
            tags.append("O")
    assert k == len(out_words), "kiln tag output words are not a subsequence of the input words"
    return tags


def _time_v(path):
    """(wall s, peak RSS MB) from a `/usr/bin/time -v` report."""
    wall = rss = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("Elapsed (wall clock) time"):
                parts = [float(x) for x in line.rsplit(" ", 1)[1].split(":")]
                wall = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
            elif line.startswith("Maximum resident set size"):
                rss = int(line.rsplit(" ", 1)[1]) / 1024
    return wall, rss


def _mtime(path):
    return os.stat(path).st_mtime_ns / 1e9


def kiln_run_facts(run):
    """What a kiln train run directory says: epochs, best epoch, eval metrics, lrs, and the
    training-loop wall time = the last write in the run directory (the final checkpoint / plot)
    minus the write of manifest.json (done after data reading, tokenisation and model init,
    right before the first update)."""
    with open(os.path.join(run, "manifest.json")) as f:
        manifest = json.load(f)
    metric = manifest["resolved"]["metric"]
    evals, lrs = [], {}
    for rec in read_jsonl(os.path.join(run, "metrics.jsonl")):
        if "eval" in rec:
            evals.append(rec)
        elif "lr" in rec:
            lrs[str(rec["step"])] = rec["lr"]
    best = max(range(len(evals)), key=lambda i: (evals[i]["eval"][metric], -i))  # first max
    last = max(_mtime(os.path.join(d, n)) for d, _, ns in os.walk(run) for n in ns)
    return {"manifest": manifest, "metric": metric, "epochs_run": len(evals),
            "best_epoch": evals[best]["epoch"], "eval_best": evals[best]["eval"],
            "updates": evals[-1]["step"], "lrs": lrs,
            "loop_wall_s": last - _mtime(os.path.join(run, "manifest.json"))}


def _fmt_test(m):
    if "f1" in m:
        return f"F1 {m['f1']:.4f} (P {m['precision']:.3f} / R {m['recall']:.3f})"
    return f"acc {m['accuracy']:.4f} (macro-F1 {m['macro_f1']:.4f})"


def report(out):
    task = os.path.basename(os.path.normpath(out))
    k = kiln_run_facts(os.path.join(out, "kiln-run"))
    metric = k["metric"]
    with open(os.path.join(out, "torch.json")) as f:
        t = json.load(f)
    with open(os.path.join(out, "kiln_test.json")) as f:
        k_test = json.load(f)
    k_wall, k_rss = _time_v(os.path.join(out, "kiln.time"))
    kt_wall, _ = _time_v(os.path.join(out, "kiln_test.time"))
    tokens = t["train_tokens_per_epoch"]  # identical ids: see the checks below
    start = open(os.path.join(out, "load_start.txt")).read().strip()
    end = open(os.path.join(out, "load_end.txt")).read().strip()
    rows = [
        ("kiln", k_test, k["eval_best"][metric], k["epochs_run"], k["best_epoch"], k["updates"],
         k["loop_wall_s"], k_wall, tokens * k["epochs_run"] / k["loop_wall_s"], k_rss, kt_wall),
        ("torch " + t["torch"], t["test"], t["eval_best"][metric], t["epochs_run"],
         t["best_epoch"], t["updates"], t["train_wall_s"], t["wall_to_trained_s"],
         t["tokens_per_s"], t["peak_rss_mb"], t["test_s"]),
    ]
    print(start)
    print(end)
    print()
    print(f"| system | task | test | eval {metric} (best) | epochs (best) | updates | "
          "train-loop wall s | process wall s | tokens/s | peak RSS MB | test scoring s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, test, ev, ep, be, up, lw, pw, tps, rss, ts in rows:
        print(f"| {name} | {task} | {_fmt_test(test)} | {ev:.4f} | {ep} ({be}) | {up} | "
              f"{lw:.1f} | {pw:.1f} | {tps:.0f} | {rss:.0f} | {ts:.1f} |")
    print()
    print(f"torch pre-tokenisation (kiln tokenize, excluded from its train-loop wall): "
          f"{t['pretokenize_s']:.1f} s; kiln process wall - train loop (read, tokenise, init): "
          f"{k_wall - k['loop_wall_s']:.1f} s; tokens/epoch {tokens}")

    # ---- cross-checks ----
    m = k["manifest"]
    res = m["resolved"]
    checks = []

    def check(what, ok, detail):
        checks.append(ok)
        print(f"- [{'ok' if ok else 'MISMATCH'}] {what}: {detail}")

    print()
    print("checks (kiln vs torch):")
    ke, te = m["data"]["train"]["examples"], t["examples"]["train"]
    check("training examples", ke == te, f"{ke} vs {te}")
    ke, te = m["data"]["eval"]["examples"], t["examples"]["eval"]
    check("eval examples", ke == te, f"{ke} vs {te}")
    kl = [m["model_config"]["id2label"][str(i)] for i in range(len(m["model_config"]["id2label"]))]
    check("labels", kl == t["labels"], f"{kl} vs {t['labels']}")
    check("total updates / warm-up", (res["total_updates"], res["warmup_steps"]) ==
          (t["total_updates"], t["warmup_steps"]),
          f"{res['total_updates']}/{res['warmup_steps']} vs {t['total_updates']}/{t['warmup_steps']}")
    kpe, tpe = k["updates"] / k["epochs_run"], t["updates"] / t["epochs_run"]
    check("updates per epoch", kpe == tpe, f"{kpe:g} vs {tpe:g}")
    kw, tw = res["class_weights"], t["class_weights"]
    if kw or tw:
        ok = bool(kw and tw) and len(kw) == len(tw) and all(
            abs(a - b) <= 1e-12 * abs(a) for a, b in zip(kw, tw))
        check("auto class weights (same labelled-token counts per class)", ok,
              f"{kw} vs {tw}; torch counts {t['target_counts']}")
    tl = {s: r["lr"] for s, r in t["log"].items()}
    common = sorted(set(k["lrs"]) & set(tl), key=int)
    dev = max((abs(k["lrs"][s] - tl[s]) for s in common), default=float("nan"))
    check("lr at logged updates", bool(common) and dev <= 1e-12,
          f"{len(common)} common steps, max |diff| {dev:.3g}; e.g. " +
          ", ".join(f"step {s}: {k['lrs'][s]:.6g}/{tl[s]:.6g}" for s in common[:4]))
    with open(os.path.join(out, "kiln_inspect.txt")) as f:
        kp = int(re.search(r"(\d+) parameters", f.read()).group(1))
    check("parameters (kiln inspect, incl. the 512 position_ids)",
          kp == t["parameters_with_position_ids"], f"{kp} vs {t['parameters_with_position_ids']}")
    v = os.path.join(out, "verify_torch_on_kiln.json")
    if os.path.exists(v):
        with open(v) as f:
            vt = json.load(f)
        ok = abs(vt["eval"][metric] - k["eval_best"][metric]) < 1e-9
        check("torch's forward + data path on kiln's best.kiln reproduces kiln's best eval "
              f"{metric}", ok, f"{vt['eval'][metric]:.6f} vs {k['eval_best'][metric]:.6f}")
        tm = "f1" if "f1" in k_test else "accuracy"
        ok = abs(vt["test"][tm] - k_test[tm]) < 1e-9
        check(f"... and kiln tag/classify's test {tm}", ok,
              f"{vt['test'][tm]:.6f} vs {k_test[tm]:.6f}")
    v = os.path.join(out, "verify_kiln_on_torch.json")
    if os.path.exists(v):
        with open(v) as f:
            vk = json.load(f)
        tm = "f1" if "f1" in vk else "accuracy"
        ok = abs(vk[tm] - t["test"][tm]) < 1e-9
        check(f"kiln tag/classify on torch's exported best model reproduces torch's test {tm}",
              ok, f"{vk[tm]:.6f} vs {t['test'][tm]:.6f}")
    return 0 if all(checks) else 1


def lockstep(run, torch_json):
    """kiln and torch trained from the same weights without dropout, one micro-batch per epoch
    (so the shuffle order cannot matter): the logged loss, gradient norm and lr of every update
    and the eval metric of every epoch must agree up to float rounding."""
    with open(torch_json) as f:
        t = json.load(f)
    recs = read_jsonl(os.path.join(run, "metrics.jsonl"))
    metric = t["metric"]
    ok, worst = True, 0.0
    print("| update | kiln loss | torch loss | kiln grad norm | torch grad norm | lr |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        if "loss" not in r:
            continue
        o = t["log"][str(r["step"])]
        for x, y in ((r["loss"], o["loss"]), (r["grad_norm"], o["grad_norm"])):
            rel = abs(x - y) / max(abs(x), 1e-12)
            worst = max(worst, rel)
            ok &= rel <= 1e-4
        ok &= abs(r["lr"] - o["lr"]) <= 1e-12
        print(f"| {r['step']} | {r['loss']:.7f} | {o['loss']:.7f} | {r['grad_norm']:.6f} | "
              f"{o['grad_norm']:.6f} | {r['lr']:.6g} |")
    ke = [r["eval"][metric] for r in recs if "eval" in r]
    te = [h["eval"][metric] for h in t["eval_history"]]
    ok &= len(ke) == len(te) and all(abs(x - y) < 1e-9 for x, y in zip(ke, te))
    print(f"eval {metric} per epoch: kiln {[round(x, 5) for x in ke]} torch "
          f"{[round(x, 5) for x in te]}")
    print(f"lockstep {'ok' if ok else 'MISMATCH'} (largest relative loss/grad-norm difference "
          f"{worst:.2g}; tolerance 1e-4)")
    return 0 if ok else 1


def main(argv):
    if len(argv) == 2 and argv[0] == "report":
        return report(argv[1])
    if len(argv) == 3 and argv[0] == "lockstep":
        return lockstep(argv[1], argv[2])
    if len(argv) < 2 or argv[0] not in ("tag", "classify", "tag-input"):
        print(__doc__, file=sys.stderr)
        return 2
    gold = read_jsonl(argv[1])
    if argv[0] == "tag-input":
        for row in gold:
            print(json.dumps({"words": row["tokens"]}, ensure_ascii=False))
        return 0
    pred = read_jsonl(argv[2])
    assert len(pred) == len(gold), f"{argv[2]}: {len(pred)} lines for {len(gold)} gold lines"
    if argv[0] == "tag":
        res = entity_scores([r["bio_tags"] for r in gold],
                            [align_kiln_tags(g["tokens"], p) for g, p in zip(gold, pred)])
    else:
        res = class_scores([str(r["label"]) for r in gold], [str(p["label"]) for p in pred])
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
