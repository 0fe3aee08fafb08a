#!/usr/bin/env python3
"""The copy-task diagnostic of examples/summarizer/README.md, in transformers: does the recipe's
BART config (examples/summarizer/config.json), from random weights, learn to copy its input?

    copy_task_torch.py COPY.jsonl [--lr 1e-3] [--batch 32] [--max-length 64] [--threads 2]

COPY.jsonl holds {"text", "summary"} rows with summary == text (copy_task.sh makes it). Prints the
mean loss of every 10 updates. Same as `kiln train --task summarization` on the file: AdamW
(weight decay 0), linear warm-up over 2% of the updates then linear decay, clipping 1.0, one
epoch in batches of --batch, labels = the target ids with padding -100, transformers' own
right-shift from decoder_start_token_id. Differs: torch's init, order and dropout draws.
"""
import argparse
import json
import random

import torch
from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("--config", default="examples/summarizer/config.json")
ap.add_argument("--tokenizer", default="../shared/tokenizers/bart-large-cnn")
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--max-length", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

torch.manual_seed(1)
torch.set_num_threads(args.threads)
model = BartForConditionalGeneration(BartConfig.from_pretrained(args.config))
tok = AutoTokenizer.from_pretrained(args.tokenizer)
rows = [json.loads(line) for line in open(args.data)]
random.Random(1).shuffle(rows)
steps = len(rows) // args.batch
warm = max(1, -(-2 * steps // 100))  # ceil(2% of the updates)
opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
sched = torch.optim.lr_scheduler.LambdaLR(
    opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / (steps - warm)))
model.train()
window = []
for s in range(steps):
    batch = rows[s * args.batch:(s + 1) * args.batch]
    enc = tok([r["text"] for r in batch], max_length=args.max_length, truncation=True,
              padding=True, return_tensors="pt")
    labels = tok([r["summary"] for r in batch], max_length=args.max_length, truncation=True,
                 padding=True, return_tensors="pt").input_ids
    labels[labels == tok.pad_token_id] = -100
    loss = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad()
    window.append(loss.item())
    if (s + 1) % 10 == 0:
        print(f"step {s + 1}/{steps} loss {sum(window) / len(window):.4f}", flush=True)
        window = []
