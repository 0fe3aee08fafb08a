#!/usr/bin/env python3
"""Builds the summarizer recipe's data files, with fixed held-out test splits.

    python3 examples/summarizer/prepare_data.py -o OUT/data [--data ../shared/data]

Python 3 standard library only. Deterministic: the same input files give byte-identical output.

Data terms. Nothing here is bundled in the repository; the files it writes are derived from
../shared/data and carry those sets' terms (../shared/data/README.md):
  - BBC News Summary (Kaggle listing CC0; the articles are BBC's: research use);
  - CNN/DailyMail and XSum test articles via artidoro/frank (MIT; CNN/DM and XSum research use);
  - FewSum (abrazinskas/FewSum, MIT; the Yelp reviews are under the Yelp Open Dataset terms);
  - with --extra-denoise (the default): AG News dev (forest-snow/alps, MIT; AG corpus research
    use) and Inspec train abstracts (Hulth 2003, research use; "Data from the Inspec Database
    kindly supplied by The IET"), as pre-training text only.

Splits (fixed; change SPLIT_SEED and every number in the README changes):
  - BBC News, CNN/DM, XSum: bucket = int(sha256(SPLIT_SEED + ":" + set + ":" + key)) % 100;
    0-79 train, 80-89 dev, 90-99 test. For CNN/DM and XSum the key is the record's id. For BBC
    it is the article text with whitespace collapsed, not the id: the BBC set holds 136 articles
    that are exact copies of others under another id, and keying by id would put copies of test
    articles into training. Every article is kept (copies land in the same split).
  - FewSum (Amazon and Yelp): the data's own train / val / test splits (dev = val).

Files written (JSON lines, each replaced atomically):
  {bbc,cnndm,xsum}_{train,dev,test}.jsonl  {"id", "text", "summary"}
  fewsum_train.jsonl   {"id", "reviews": [8 texts], "summary"}: one line per gold summary (3 per
                       group), so each gold is a training target;
  fewsum_{dev,test}.jsonl  {"id", "reviews", "summary": [3 golds]}: kiln train scores a list
                       against its best reference; rouge_pairs.py pairs a prediction with each.
  finetune_train.jsonl bbc_train + cnndm_train + fewsum_train, shuffled (seeded) (XSum is not fine-tuned on: its
                       FRANK copy has one-sentence, quote-mangled summaries in another style and
                       the issue sets no baseline for it). Its BBC summaries have their sentences
                       in article order (in_article_order); bbc_*.jsonl keep the data's own;
  finetune_dev.jsonl   bbc_dev + cnndm_dev + fewsum_dev (kiln train's per-epoch ROUGE);
  denoise_text.jsonl   {"text"}: every TRAINING-split article of BBC, CNN/DM and XSum and every
                       review of the FewSum training groups; never a dev or test text;
  denoise_extra.jsonl  {"text"}: AG News dev and Inspec train (other data sets, none of it in any
                       summarization split); only with --extra-denoise.
"""
import argparse
import hashlib
import json
import os
import random
import re
import sys

SPLIT_SEED = "kiln-summarizer-v1"
SPLITS = ("train", "dev", "test")


def bucket_split(dataset, key):
    digest = hashlib.sha256(f"{SPLIT_SEED}:{dataset}:{key}".encode("utf-8")).hexdigest()
    b = int(digest, 16) % 100
    return "train" if b < 80 else "dev" if b < 90 else "test"


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: malformed JSON: {e}")
    if not rows:
        sys.exit(f"{path}: no records")
    return rows


def field(row, name, path):
    if name not in row or not row[name]:
        sys.exit(f"{path}: record {row.get('id', '?')}: missing or empty field '{name}'")
    return row[name]


def write_jsonl(path, rows):
    # Atomic: a reader never sees half a file, and an interrupted run leaves the old one intact.
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return len(rows)


# BBC's summaries are sentences picked from the article, run together without spaces
# ("compensation.However, ...") and mostly not in the article's order. A cut after . ! ? (or a
# closing quote after one) before a capital or a quote finds them.
SENTENCE_END = re.compile(r"(?<=[.!?])(?=[A-Z\"'])|(?<=[.!?][\"'])(?=[A-Z])")


def in_article_order(row):
    """The row with its summary's sentences in the order they appear in the article, joined by
    spaces; unchanged when a sentence is not found verbatim in the article (170 of BBC's 1,755
    training rows: the cut leaves a closing quote on the wrong side, or the summary's spacing
    differs from the article's). A training target in article
    order asks the decoder to copy forward through the source, as it does in its copy warm-up
    and denoising pre-training, instead of jumping around it."""
    sentences = [p.strip() for p in SENTENCE_END.split(row["summary"]) if p.strip()]
    where = [row["text"].find(t) for t in sentences]
    if min(where, default=-1) < 0:
        return row
    order = sorted(range(len(sentences)), key=lambda i: where[i])
    return dict(row, summary=" ".join(sentences[i] for i in order))


def news_splits(path, dataset, text_field, summary_field, key_of):
    out = {s: [] for s in SPLITS}
    for r in read_jsonl(path):
        text = field(r, text_field, path)
        out[bucket_split(dataset, key_of(r))].append(
            {"id": str(field(r, "id", path)), "text": text, "summary": field(r, summary_field, path)})
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_data = os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", required=True, help="directory to write the files into")
    ap.add_argument("--data", default=default_data, help="the shared data folder")
    ap.add_argument("--no-extra-denoise", dest="extra", action="store_false",
                    help="do not write denoise_extra.jsonl (AG News dev + Inspec train)")
    args = ap.parse_args()
    d = args.data
    os.makedirs(args.output, exist_ok=True)

    sets = {
        "bbc": news_splits(os.path.join(d, "bbc_news", "bbc_news_summary.jsonl"), "bbc",
                           "article", "summary", lambda r: " ".join(r["article"].split())),
        "cnndm": news_splits(os.path.join(d, "news", "cnndm_frank.jsonl"), "cnndm", "article",
                             "highlights", lambda r: r["id"]),
        "xsum": news_splits(os.path.join(d, "news", "xsum_frank.jsonl"), "xsum", "document",
                            "summary", lambda r: r["id"]),
    }
    fewsum = {s: [] for s in SPLITS}
    for domain in ("amazon", "yelp"):
        for split, name in (("train", "train"), ("dev", "val"), ("test", "test")):
            path = os.path.join(d, "fewsum", domain, f"{name}.jsonl")
            for r in read_jsonl(path):
                reviews, golds = field(r, "reviews", path), field(r, "summaries", path)
                rid = f"{domain}/{field(r, 'id', path)}"
                if split == "train":
                    fewsum[split] += [{"id": f"{rid}#{i}", "reviews": reviews, "summary": g}
                                      for i, g in enumerate(golds)]
                else:
                    fewsum[split].append({"id": rid, "reviews": reviews, "summary": golds})
    sets["fewsum"] = fewsum

    counts = {}
    for name, splits in sets.items():
        for s in SPLITS:
            counts[f"{name}_{s}"] = write_jsonl(os.path.join(args.output, f"{name}_{s}.jsonl"),
                                                splits[s])
    # No test article may appear in a training file (BBC copies are keyed by text; this checks it).
    test_texts = {" ".join(r["text"].split()) for n in ("bbc", "cnndm", "xsum")
                  for r in sets[n]["test"]}
    for n in ("bbc", "cnndm", "xsum"):
        for r in sets[n]["train"]:
            if " ".join(r["text"].split()) in test_texts:
                sys.exit(f"internal error: a {n} test article is also in {n}_train")

    # Shuffled with a fixed seed, so that its first N lines (recipe.sh's smaller scales) mix the
    # three sets in the proportions of the whole file.
    finetune = ([in_article_order(r) for r in sets["bbc"]["train"]] + sets["cnndm"]["train"] +
                sets["fewsum"]["train"])
    random.Random(SPLIT_SEED).shuffle(finetune)
    counts["finetune_train"] = write_jsonl(os.path.join(args.output, "finetune_train.jsonl"),
                                           finetune)
    counts["finetune_dev"] = write_jsonl(
        os.path.join(args.output, "finetune_dev.jsonl"),
        sets["bbc"]["dev"] + sets["cnndm"]["dev"] + sets["fewsum"]["dev"])

    denoise = [{"text": r["text"]} for n in ("bbc", "cnndm", "xsum") for r in sets[n]["train"]]
    seen_groups = set()
    for r in sets["fewsum"]["train"]:  # three lines per group: take its reviews once
        group = r["id"].split("#")[0]
        if group not in seen_groups:
            seen_groups.add(group)
            denoise += [{"text": t} for t in r["reviews"]]
    counts["denoise_text"] = write_jsonl(os.path.join(args.output, "denoise_text.jsonl"), denoise)
    words = sum(len(r["text"].split()) for r in denoise)
    extra_words = 0
    if args.extra:
        extra = [{"text": field(r, "text", "ag_news/dev.jsonl")}
                 for r in read_jsonl(os.path.join(d, "ag_news", "dev.jsonl"))]
        extra += [{"text": field(r, "title", "inspec") + ". " + field(r, "abstract", "inspec")}
                  for r in read_jsonl(os.path.join(d, "inspec", "inspec_train.jsonl"))]
        counts["denoise_extra"] = write_jsonl(os.path.join(args.output, "denoise_extra.jsonl"),
                                              extra)
        extra_words = sum(len(r["text"].split()) for r in extra)

    for name, n in counts.items():
        print(f"{name:16} {n:6d}")
    print(f"denoise words: {words} (summarization training splits) + {extra_words} (extra)")


if __name__ == "__main__":
    main()
