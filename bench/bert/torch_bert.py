#!/usr/bin/env python3
"""PyTorch peer for bench_bert_bench: BERT-base-shaped BertForSequenceClassification (seeded random
weights, hidden 768, 12 layers, 12 heads, FFN 3072, vocab 30522, 2 labels), timed like kiln's bench.

  torch_bert.py --mode infer|train [--batch 8] [--seq 128] [--runs 10] [--warmup 2] [--threads 2]
                [--impl hf|plain] [--attn eager|sdpa] [--compile] [--adamw fused|foreach|loop]
                [--int8 [--qengine x86|fbgemm|onednn]]

--impl hf (default) is transformers' own BertForSequenceClassification, the model PyTorch users
run; --impl plain is the same network written here in plain torch.nn (the earlier peer, kept for
machines without transformers). --attn picks transformers' attention kernel (eager: explicit
matmul + softmax; sdpa: torch.nn.functional.scaled_dot_product_attention). --compile wraps the
model in torch.compile (inductor; for inference with weight freezing, so inductor can pre-pack
the weights for oneDNN) and compiles it during set-up: compilation counts in setup_peak_mb, not in
the timed loop or its peak_rss_mb. --adamw picks the optimizer's implementation for the training
step (default fused, the fastest here). --int8 (inference) runs the model after PyTorch's dynamic
quantization, torch.ao.quantization.quantize_dynamic on every nn.Linear with qint8 weights (per
output channel) and activations quantized per batch at run time, on the --qengine backend
(default x86: FBGEMM with oneDNN; bench/quant/run.sh times each and quotes the fastest).

Prints one line like bench_bert_bench: "torch mode=... median_ms=... peak_rss_mb=... ...", with the
configuration (impl, attn, compile, adamw) at its end, and cpu_ms: the process CPU time (all
threads) per warm-up or timed run. Run one configuration per process so the
peak RSS belongs to it alone. Needs the PyPI packages torch and transformers (see run.sh).
"""
import argparse
import gc
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
SEED = 42  # ort_bert.py --export builds its model with hf_model() under the same seed


def hf_model(attn="sdpa"):
    """transformers' BertForSequenceClassification, BERT-base shape, seeded random init."""
    from transformers import BertConfig, BertForSequenceClassification
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                     num_attention_heads=HEADS, intermediate_size=FFN,
                     max_position_embeddings=MAXPOS, type_vocab_size=TYPES, layer_norm_eps=EPS,
                     hidden_dropout_prob=DROPOUT, attention_probs_dropout_prob=DROPOUT,
                     initializer_range=INIT_STD, num_labels=LABELS)
    torch.manual_seed(SEED)
    return BertForSequenceClassification._from_config(cfg, attn_implementation=attn)


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


class PlainBert(nn.Module):
    """The same network in plain torch.nn (--impl plain); called as model(ids, mask) -> logits."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(SEED)
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


class HfLogits(nn.Module):
    """Calls the transformers model as model(ids, mask) -> logits, like PlainBert."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        return self.model(input_ids=ids, attention_mask=mask).logits


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
    ap.add_argument("--impl", choices=["hf", "plain"], default="hf")
    # sdpa is transformers' own default; run.sh times eager, sdpa and compiled sdpa and the table
    # marks the fastest (on the loaded machine of 2026-12-02 eager and sdpa were within noise).
    ap.add_argument("--attn", choices=["eager", "sdpa"], default="sdpa")
    ap.add_argument("--compile", action="store_true")
    # fused: one kernel over all parameters; at BERT-base size its step took a fraction of the
    # default (per-parameter loop) and foreach steps' time here.
    ap.add_argument("--adamw", choices=["fused", "foreach", "loop"], default="fused")
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--qengine", choices=["x86", "fbgemm", "onednn"], default="x86")
    ap.add_argument("--show-config", action="store_true")
    a = ap.parse_args()
    if a.int8 and (a.mode != "infer" or a.compile):
        ap.error("--int8 is for --mode infer without --compile")
    torch.set_num_threads(a.threads)
    if a.show_config:
        print(torch.__version__)
        print(torch.__config__.show())
        print(torch.__config__.parallel_info())
        return
    model = HfLogits(hf_model(a.attn)) if a.impl == "hf" else PlainBert()
    model.train(a.mode == "train")
    if a.int8:
        torch.backends.quantized.engine = a.qengine
        model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    ids, mask = inputs(a.batch, a.seq)
    labels = torch.arange(a.batch) % 2
    if a.compile:
        if a.mode == "infer":
            # Freezing turns the weights into constants, so inductor can pre-pack them for oneDNN.
            import torch._inductor.config as inductor_config
            inductor_config.freezing = True
        model = torch.compile(model)
        # Compile now (one call), outside the timed loop and its RSS peak.
        if a.mode == "infer":
            with torch.inference_mode():
                model(ids, mask)
        else:
            F.cross_entropy(model(ids, mask), labels).backward()
            model.zero_grad(set_to_none=True)
    gc.collect()
    setup_peak = hwm_mb()
    reset_peak_rss()  # getrusage's ru_maxrss restarts too
    times = []
    cpu0 = time.process_time()
    if a.mode == "infer":
        with torch.inference_mode():
            for r in range(a.warmup + a.runs):
                t0 = time.perf_counter()
                model(ids, mask)
                dt = (time.perf_counter() - t0) * 1e3
                if r >= a.warmup:
                    times.append(dt)
    else:
        kind = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}
        opt = torch.optim.AdamW(model.parameters(), lr=2e-5, **kind[a.adamw])
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
    cpu_ms = (time.process_time() - cpu0) * 1e3 / (a.warmup + a.runs)
    cfg = f"impl={a.impl} attn={a.attn if a.impl == 'hf' else 'eager'} compile={int(a.compile)}"
    if a.mode == "train":
        cfg += f" adamw={a.adamw}"
    if a.int8:
        cfg += f" weights=int8-dynamic qengine={a.qengine}"
    if a.impl == "hf":
        import transformers
        cfg += f" transformers={transformers.__version__}"
    print(f"torch mode={a.mode} batch={a.batch} seq={a.seq} threads={a.threads} runs={a.runs} "
          f"median_ms={statistics.median(times):.2f} min_ms={min(times):.2f} "
          f"peak_rss_mb={peak_rss_mb():.0f} setup_peak_mb={setup_peak:.0f} {cfg} "
          f"torch={torch.__version__} cpu_ms={cpu_ms:.2f}")


if __name__ == "__main__":
    sys.exit(main())
