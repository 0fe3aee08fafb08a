#!/usr/bin/env python3
"""Hugging Face tokenizers (PyPI package, native Rust core) on the same corpus and settings as
bench_tokenizer_bench: encode_batch over the whole corpus, best of REPEAT runs after a warm-up.
The thread count is fixed by the caller through RAYON_NUM_THREADS / TOKENIZERS_PARALLELISM, which
the Rust side reads when its thread pool starts, so run.sh starts one process per setting.
  hf_bench.py TOKENIZER_JSON CORPUS_JSONL NAME THREADS [REPEAT]
Prints one JSON line (the fields table.py reads).
"""
import json
import sys
import time

from tokenizers import Tokenizer


def main():
    tok_path, corpus_path, name, threads = sys.argv[1:5]
    repeat = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    tok = Tokenizer.from_file(tok_path)
    with open(corpus_path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    best, tokens = float("inf"), 0
    for r in range(repeat + 1):  # run 0 is the warm-up
        t0 = time.perf_counter()
        encodings = tok.encode_batch(texts, add_special_tokens=True)
        s = time.perf_counter() - t0
        tokens = sum(len(e.ids) for e in encodings)
        if r > 0:
            best = min(best, s)
    print(json.dumps({"impl": "hf-tokenizers", "tokenizer": name, "threads": int(threads),
                      "texts": len(texts), "bytes": n_bytes, "tokens": tokens, "seconds": best,
                      "mb_per_s": n_bytes / best / 1e6, "tokens_per_s": tokens / best}))


if __name__ == "__main__":
    main()
