#!/usr/bin/env python3
"""Writes {"id", "prediction", "reference"} lines for `kiln rouge` (standard library only).

    make_pairs.py lead3   DATA.jsonl  [--sep space|newline] [--count N]  # first N (3) sentences
    make_pairs.py longest DATA.jsonl                          # the longest of "reviews"
    make_pairs.py summaries SUMMARIZE_OUT.jsonl [--sep ...]   # kiln summarize's output lines

A record's reference is its "summary" ("input_summary" in kiln summarize's output, which keeps an
input field named like its own that way); a list of gold summaries (FewSum) gives one pair per
gold, so the mean over pairs is the mean over (input, gold) pairs, each gold counting once
(--first-gold: the first gold only).

Sentences (lead3): the text is cut at line breaks, then after '.', '!' or '?' (and any closing
quotes or brackets) followed by whitespace and an upper-case letter, a digit or an opening quote.
This is a plain rule, not NLTK's punkt: "Mr. Smith" is cut after "Mr.", which is rare in the
first three sentences of a news article. The sentences are joined with a space (one line, as
kiln summarize scores generated text) unless --sep newline (rougeLsum then sees sentences). The
same cut applies to a generated summary with --sep newline, as Hugging Face's summarization
examples put each predicted sentence on its own line before scoring rougeLsum.
"""
import argparse
import json
import re
import sys

SENTENCE_END = re.compile(r"""(?<=[.!?])["'\u2019\u201d)\]]*\s+(?=["'\u2018\u201c(\[]?[A-Z0-9£$])""")


def sentences(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        start = 0
        for m in SENTENCE_END.finditer(line):
            out.append(line[start:m.end()].strip())
            start = m.end()
        out.append(line[start:].strip())
    return [s for s in out if s]


def references(r, where):
    ref = r.get("input_summary", r.get("summary"))
    if isinstance(ref, str):
        return [ref]
    if isinstance(ref, list) and ref and all(isinstance(x, str) for x in ref):
        return ref
    sys.exit(f"{where}: no reference summary (field 'summary' or 'input_summary')")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["lead3", "longest", "summaries"])
    ap.add_argument("input")
    ap.add_argument("--sep", choices=["space", "newline"], default="space")
    ap.add_argument("--count", type=int, default=3, help="lead3: sentences to keep")
    ap.add_argument("--first-gold", action="store_true",
                    help="pair with the first gold summary only (how the issue's FewSum figure "
                         "was computed)")
    args = ap.parse_args()
    sep = " " if args.sep == "space" else "\n"
    with open(args.input, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{args.input}:{n}"
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{where}: malformed JSON: {e}")
            if args.mode == "lead3":
                pred = sep.join(sentences(r["text"])[:args.count])
            elif args.mode == "longest":
                # Longest by characters; the first of equals.
                pred = max(r["reviews"], key=len)
            else:
                if "summary" not in r:
                    sys.exit(f"{where}: no 'summary' (is this kiln summarize's output?)")
                pred = r["summary"]
                if args.sep == "newline":
                    pred = sep.join(sentences(pred))
            refs = references(r, where)
            for ref in refs[:1] if args.first_gold else refs:
                print(json.dumps({"id": r.get("id"), "prediction": pred, "reference": ref},
                                 ensure_ascii=False))


if __name__ == "__main__":
    main()
