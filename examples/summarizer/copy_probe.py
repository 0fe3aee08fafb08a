#!/usr/bin/env python3
"""Can a summarizer copy a sentence that is not its input's first? (standard library + kiln)

    copy_probe.py -m MODEL [--dev DATA/bbc_dev.jsonl] [--kiln build/tools/kiln] [--threads 2]

Writes three probe sets from BBC dev articles (rows 100-159, never test text) and prints kiln
eval's teacher-forced loss (mean cross-entropy per target token, nats) on each:

  lead     source: the article's first 3 sentences; target: the first of them
  window   source: the same 3 sentences;           target: the 2nd or 3rd
  article  source: the whole article;              target: one of sentences 5-8

A model that copies by content scores low on all three. One that copies by position (target
token t read from source token t, which a plain copy task teaches) scores low on lead only: the
first sentence is where it is in both. BBC's reference summaries are picked article sentences, so
the window and article losses say how much of a summary beyond the lead the model can copy.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_pairs import sentences  # noqa: E402


def probes(dev_path):
    rng = random.Random(7)
    with open(dev_path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()][100:160]
    sets = {"lead": [], "window": [], "article": []}
    for row in rows:
        sents = sentences(row["text"])
        if len(sents) < 8:
            continue
        window = " ".join(sents[:3])
        sets["lead"].append({"text": window, "summary": sents[0]})
        sets["window"].append({"text": window, "summary": sents[rng.randint(1, 2)]})
        sets["article"].append({"text": row["text"], "summary": sents[rng.randint(4, 7)]})
    return sets


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--dev", default=os.path.join(root, "runs", "summarizer-medium", "data",
                                                  "bbc_dev.jsonl"),
                    help="prepare_data.py's bbc_dev.jsonl")
    ap.add_argument("--kiln", default=os.path.join(root, "build", "tools", "kiln"))
    ap.add_argument("--threads", default="2")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, rows in probes(args.dev).items():
            path = os.path.join(tmp, name + ".jsonl")
            with open(path, "w", encoding="utf-8") as out:
                out.writelines(json.dumps(r) + "\n" for r in rows)
            # Generation is not what is probed: one token, so eval's ROUGE pass costs nothing.
            result = subprocess.run(
                [args.kiln, "eval", "-m", args.model, "--task", "summarization", "-i", path,
                 "--max-length", "512", "--max-target-length", "96", "--threads", args.threads,
                 "--generation-num-beams", "1", "--generation-max-length", "2",
                 "--generation-min-length", "0"], capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"copy_probe.py: kiln eval failed on {name}: {result.stderr.strip()}")
            loss = json.loads(result.stdout)["loss"]
            print(f"{name:8s} {len(rows):3d} targets  loss {loss:.3f}")


if __name__ == "__main__":
    main()
