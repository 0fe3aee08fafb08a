#!/usr/bin/python3
"""PyTorch peer for bench_bert_bench: the same BERT-base-shaped BertForSequenceClassification
written in plain torch.nn (transformers is not installed here), with the same measurements.

  torch_bert.py --mode infer|train [--batch 8] [--seq 128] [--runs 10] [--warmup 2] [--threads 2]
  torch_bert.py --export PATH.onnx      # forward graph for ONNX Runtime (dynamic batch/seq)

Prints one line like bench_bert_bench: "torch mode=... median_ms=... peak_rss_mb=...". Run one
configuration per process so the peak RSS belongs to it alone.
"""
import argparse
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HIDDEN, LAYERS, HEADS, FFN, VOCAB, MAXPOS, TYPES, LABELS = 768, 12, 12, 3072, 30522, 512, 2, 2
EPS, DROPOUT, INIT_STD = 1e-12, 0.1, 0.02


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(HIDDEN, HIDDEN)
        self.k = nn.Linear(HIDDEN, HIDDEN)
        self.v = nn.Linear(HIDDEN, HIDDEN)
        self.o = nn.Linear(HIDDEN, HIDDEN)
        self.ln1 = nn.LayerNorm(HIDDEN, eps=EPS)
        self.up = nn.Linear(HIDDEN, FFN)
        self.down = nn.Linear(FFN, HIDDEN)
        self.ln2 = nn.LayerNorm(HIDDEN, eps=EPS)
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, x, bias):
        b, l, h = x.shape
        dh = h // HEADS

        def split(t):
            return t.view(b, l, HEADS, dh).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        # The eager attention of Hugging Face's BertSelfAttention: explicit matmul + softmax.
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + bias
        p = self.drop(torch.softmax(s, dim=-1))
        ctx = torch.matmul(p, v).transpose(1, 2).reshape(b, l, h)
        a = self.ln1(self.drop(self.o(ctx)) + x)
        f = self.down(F.gelu(self.up(a)))
        return self.ln2(self.drop(f) + a)


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.word = nn.Embedding(VOCAB, HIDDEN, padding_idx=0)
        self.pos = nn.Embedding(MAXPOS, HIDDEN)
        self.typ = nn.Embedding(TYPES, HIDDEN)
        self.ln = nn.LayerNorm(HIDDEN, eps=EPS)
        self.drop = nn.Dropout(DROPOUT)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.pooler = nn.Linear(HIDDEN, HIDDEN)
        self.classifier = nn.Linear(HIDDEN, LABELS)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=INIT_STD)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.word.weight[0].zero_()

    def forward(self, ids, mask):
        b, l = ids.shape
        pos = torch.arange(l, device=ids.device).unsqueeze(0)
        x = self.word(ids) + self.pos(pos) + self.typ(torch.zeros_like(ids))
        x = self.drop(self.ln(x))
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, bias)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(self.drop(pooled))


def inputs(batch, seq):
    g = torch.Generator().manual_seed(12345)
    ids = torch.randint(1000, VOCAB, (batch, seq), generator=g)
    return ids, torch.ones(batch, seq, dtype=torch.long)


def hwm_mb():
    """Peak RSS since reset_peak_rss() (VmHWM), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def reset_peak_rss():
    """Linux clear_refs "5": peak RSS restarts from the current RSS (after model set-up)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["infer", "train"], default="infer")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", help="write the forward as ONNX to this path and exit")
    ap.add_argument("--show-config", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(42)
    torch.set_num_threads(a.threads)
    if a.show_config:
        print(torch.__version__)
        print(torch.__config__.show())
        print(torch.__config__.parallel_info())
        return
    model = Bert()
    ids, mask = inputs(a.batch, a.seq)
    if a.export:
        model.eval()
        torch.onnx.export(model, (ids, mask), a.export, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=14,
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                        "attention_mask": {0: "batch", 1: "seq"},
                                        "logits": {0: "batch"}})
        print("exported", a.export)
        return
    import gc
    gc.collect()
    setup_peak = hwm_mb()
    reset_peak_rss()  # getrusage's ru_maxrss restarts too
    times = []
    if a.mode == "infer":
        model.eval()
        with torch.inference_mode():
            for r in range(a.warmup + a.runs):
                t0 = time.perf_counter()
                model(ids, mask)
                dt = (time.perf_counter() - t0) * 1e3
                if r >= a.warmup:
                    times.append(dt)
    else:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
        labels = torch.arange(a.batch) % 2
        for r in range(a.warmup + a.runs):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(ids, mask), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            dt = (time.perf_counter() - t0) * 1e3
            if r >= a.warmup:
                times.append(dt)
    print(f"torch mode={a.mode} batch={a.batch} seq={a.seq} threads={a.threads} runs={a.runs} "
          f"median_ms={statistics.median(times):.2f} min_ms={min(times):.2f} "
          f"peak_rss_mb={peak_rss_mb():.0f} setup_peak_mb={setup_peak:.0f} torch={torch.__version__}")


if __name__ == "__main__":
    sys.exit(main())
