#!/usr/bin/env python3
"""Differential check against Hugging Face tokenizers (PyPI): encodes a JSONL corpus with HF and
compares with kiln's `kiln tokenize` output line by line (ids, tokens, decoded text).
  diff_hf.py TOKENIZER_JSON CORPUS_JSONL KILN_OUTPUT_JSONL
With GEN=N instead, writes N random stress texts (mixed scripts, marks, emoji, controls,
whitespace variants, literal special tokens) to CORPUS_JSONL and exits.
"""
import json
import os
import sys

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " \t\n\r  ",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "éèêëàâäôöûüçñßøåæœÀÉÎÕÜ", "\u0301\u0308\u0302\u0327",
    "日本語中文漢字テキストのカタカナ한국어", "Ελληνικάрусский", "مرحبانمस्तेदुनिया",
    "\u00a0\u2009\u3000\u200b\u200d\ufeff\u0001\u0007\u007f\u0085\u2028", "😀👩‍👩‍👧🏳️‍🌈👍🏽❤️",
    "∑²≤∞∂≈±°£€¥", "'s 't 're 've 'm 'll 'd", "İıŉǰΐ",
]
SPECIALS = ["[CLS]", "[SEP]", "[MASK]", "<mask>", "<s>", "</s>", "<pad>", " <mask>"]


def random_texts(n, seed):
    """A 32-bit LCG over code points: the same texts as the earlier Node diff_hf.js for a seed."""
    s = seed & 0xFFFFFFFF

    def rnd(k):
        nonlocal s
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        return s % k

    out = []
    for _ in range(n):
        t = ""
        for _ in range(rnd(60)):
            if rnd(40) == 0:
                t += SPECIALS[rnd(len(SPECIALS))]
                continue
            pool = POOLS[rnd(len(POOLS))]
            for _ in range(1 + rnd(6)):
                t += pool[rnd(len(pool))]
        out.append(t)
    return out


def show(value):
    """Compact JSON with the text's own characters (as the earlier Node diff_hf.js printed it)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def main():
    tok_path, corpus_path = sys.argv[1:3]
    if os.environ.get("GEN"):
        with open(corpus_path, "w", encoding="utf-8") as f:
            for t in random_texts(int(os.environ["GEN"]), 12345):  # same bytes as diff_hf.js wrote
                f.write(show({"text": t}) + "\n")
        return
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tok_path)
    with open(corpus_path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    with open(sys.argv[3], encoding="utf-8") as f:
        kiln = [json.loads(line) for line in f if line.strip()]
    if len(kiln) != len(texts):
        sys.exit(f"kiln gave {len(kiln)} lines for {len(texts)} texts")
    bad = 0
    for i, (text, enc) in enumerate(zip(texts, tok.encode_batch(texts, add_special_tokens=True))):
        decoded = tok.decode(enc.ids, skip_special_tokens=True)
        for field, hf_val in (("ids", enc.ids), ("tokens", enc.tokens), ("decoded", decoded)):
            if hf_val != kiln[i][field]:
                if bad < 5:
                    print(f"line {i + 1} field {field}\n  text {show(text)}\n"
                          f"  hf   {show(hf_val)}\n  kiln {show(kiln[i][field])}")
                bad += 1
    name = os.path.join(os.path.basename(os.path.dirname(tok_path)), os.path.basename(tok_path))
    print(f"{name}: {len(texts)} texts, {bad} field differences")


if __name__ == "__main__":
    main()
