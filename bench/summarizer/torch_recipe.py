#!/usr/bin/env python3
"""PyTorch + transformers peer of the summarizer recipe's training stages (issue 12): the same
data, config, batches, loss and optimizer as `kiln train --task summarization`, run in
transformers' BartForConditionalGeneration for the first --max-steps updates of a stage.

  torch_recipe.py --init-from KILN_FILE --train F.jsonl --tokenizer TOK [kiln train's options...]
      --max-steps N [--bf16] [--threads 2] [--kiln build/tools/kiln] [--summary OUT.json]
  torch_recipe.py --init-from KILN_FILE --export-hf DIR --tokenizer TOK
      (the weights as a Hugging Face checkpoint directory, for `kiln convert`: a common start)

KILN_FILE is a kiln model file (.kiln) or a run's checkpoint/checkpoint.safetensors: the config
comes from its kiln.config metadata, the weights by name (kiln uses transformers' names).

Same as kiln train (train/trainer.cpp, train/summarization_task.cpp, summarization_source.cpp),
by construction:
- Initial weights: loaded from kiln. run.sh takes them from `kiln train ... --stop-after-steps 1`
  with the stage's own options: update 1 runs at lr = base * 0 / warmup = 0 (linear warm-up from
  0), so AdamW leaves every weight (decay included) as kiln initialised it; its checkpoint holds
  kiln's random init. The fine-tuning stage starts from kiln's pre-trained weights converted with
  --export-hf + `kiln convert`, and both systems load that one file.
- Token ids: `kiln tokenize` (kiln's tokenizer, which kiln train uses), checked against the real
  Hugging Face tokenizer (tokenizers' Tokenizer.from_file on the same tokenizer.json): the summary
  reports how many texts differ. Source = <s> text </s> (a document group: <s> doc <sep> doc ...
  </s>, each document encoded without specials, separator <doc-sep> else </s>), cut to
  --max-source-length keeping the final </s>; target = <s> summary </s> cut to
  --max-target-length keeping </s>; a list of gold summaries gives one example per summary.
- Batches: the training examples in kiln's order: a Fisher-Yates shuffle driven by kiln's
  Philox-4x32-10 Generator (seed + 1), re-implemented here bit for bit (kiln_permutation), cut into
  micro-batches of --per-device-batch-size; sources padded with pad_token_id to the batch's
  longest, attention_mask 1 on real tokens; labels = targets padded with -100; decoder inputs =
  shift_tokens_right(labels) from decoder_start_token_id (the first padding position reads </s>,
  later ones <pad>); no decoder attention mask (causal only), as kiln.
- Loss: cross-entropy (with --label-smoothing eps: (1 - eps) NLL + eps/V * sum of -log p over the
  vocabulary, = torch's label_smoothing) summed over the update's target tokens, divided by the
  number of target tokens of the update (kiln's target_weight): the mean per target token.
- Optimizer: AdamW (betas 0.9/0.999, eps 1e-8), decoupled weight decay on every parameter whose
  name does not end in "bias" and contains none of "LayerNorm", "layer_norm", "layernorm" (kiln's
  default_decay_filter, train/optimizer.cpp: the Trainer's no-decay set for these names; before
  2026-12-03 kiln decayed the two layernorm_embedding weights, as the first measured run did);
  tied weights (shared = embed_tokens = lm_head) are
  one parameter; clip_grad_norm_ 1.0; lr of update s (0-based) = base * factor(s), linear warm-up
  over ceil(warmup_ratio * total) updates then linear decay to 0, total = updates of ALL
  --epochs (train/schedule.cpp), so a run stopped at --max-steps follows the full run's schedule.
- Model: transformers' BartForConditionalGeneration from the same config.json (dropout as the
  config: hidden 0.1, attention 0, activation 0), default attention implementation (sdpa).
- --bf16: torch.autocast("cpu", bfloat16) around forward and loss (kiln --bf16: matrix products in
  bf16 with f32 accumulation; weights, gradients, optimizer moments, norms and the loss in f32).
What differs:
- Dropout masks: torch's generator (seed + 2), not kiln's per-micro-batch Philox streams, so the
  two curves are two draws of the same process and differ by dropout noise step by step.
- bf16: torch's autocast rounds each matrix product's OUTPUT to bf16 (the logits included, before
  the f32 loss); kiln keeps products' outputs in f32. Float summation orders differ.
- Timing and implementation: eager PyTorch (oneDNN/AMX bf16 GEMMs) vs kiln's kernels.

Timing (as kiln's metrics.jsonl): every --logging-steps updates a window record with the mean
update loss, lr, grad norm and tokens_per_s = SOURCE tokens (after truncation) of the window's
updates / the window's seconds (collate, forward, backward, clipping and the optimizer step).
train_wall_s = the sum of the windows; src_tgt_tokens_per_s also counts the target tokens.
pretokenize_s (kiln tokenize, example assembly, shuffle) is outside it. wall_to_trained_s: from
the start of the script (before `import torch`) to the end of the loop. peak_rss_mb: getrusage
ru_maxrss of this process at the end of the loop. Prints the summary JSON as the last stdout line.
"""
import argparse
import json
import math
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time

T_START = time.perf_counter()

import torch  # noqa: E402  (import time counts in wall_to_trained_s)
import torch.nn.functional as F  # noqa: E402

IGNORE = -100
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
M32 = 0xFFFFFFFF


# ----------------------------------------------------------------------------------------------
# kiln's random stream (core/rng.cpp): Philox-4x32-10 and Generator::next_u64


def philox4x32(key, hi, lo):
    c0, c1, c2, c3 = lo & M32, (lo >> 32) & M32, hi & M32, (hi >> 32) & M32
    k0, k1 = key & M32, (key >> 32) & M32
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


class KilnGenerator:
    def __init__(self, seed, offset=0):
        self.seed, self.offset = seed, offset

    def u32_at(self, i):
        return philox4x32(self.seed, 0, i >> 2)[i & 3]

    def next_u64(self):
        c = self.offset
        self.offset += 1
        base = 2 * c + (1 << 62)
        return (self.u32_at(base) << 32) | self.u32_at(base + 1)


def kiln_permutation(n, gen):
    """Trainer::epoch_order: Fisher-Yates with next_u64() % i."""
    order = list(range(n))
    for i in range(n, 1, -1):
        j = gen.next_u64() % i
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


# ----------------------------------------------------------------------------------------------
# data


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def kiln_tokenize(kiln, tokenizer, texts, threads, specials):
    """ids of each text from `kiln tokenize` (one process for the whole list)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
        path = f.name
    try:
        cmd = [kiln, "tokenize", "--tokenizer", tokenizer, "--input", path, "--threads",
               str(threads), "--add-special-tokens=" + ("true" if specials else "false")]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout.decode("utf-8")
    finally:
        os.unlink(path)
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(rows) == len(texts), f"kiln tokenize: {len(rows)} outputs for {len(texts)} inputs"
    return [r["ids"] for r in rows]


def hf_tokenizer(path):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(path if os.path.isfile(path)
                               else os.path.join(path, "tokenizer.json"))


def cut(ids, n):
    """Truncation keeping the final token (</s>), as summarization_source.cpp / _task.cpp."""
    if n > 0 and len(ids) > n:
        return ids[:n - 1] + [ids[-1]]
    return list(ids)


def targets_of(row, field):
    v = row[field]
    return [v] if isinstance(v, str) else list(v)


def docs_of(row):
    for f in ("reviews", "documents"):
        if f in row:
            return row[f]
    return None


def build_examples(rows, used_rows, a, hf):
    """(source ids, target ids) per example of the rows listed in used_rows (row index order),
    with kiln's ids; also counts the texts where Hugging Face's tokenizer gives other ids."""
    with_specials, without = [], []
    for r in used_rows:
        row = rows[r]
        docs = docs_of(row)
        if docs is None:
            with_specials.append(row[a.text_field])
        else:
            without.extend(docs)
        with_specials.extend(targets_of(row, a.label_field))
    ids_s = kiln_tokenize(a.kiln, a.tokenizer, with_specials, a.threads, True) if with_specials \
        else []
    ids_n = kiln_tokenize(a.kiln, a.tokenizer, without, a.threads, False) if without else []
    mismatch = sum(hf.encode(t, add_special_tokens=True).ids != k
                   for t, k in zip(with_specials, ids_s))
    mismatch += sum(hf.encode(t, add_special_tokens=False).ids != k
                    for t, k in zip(without, ids_n))
    empty = hf.encode("", add_special_tokens=True).ids  # <s> </s>: the specials around a group
    sep = hf.token_to_id("<doc-sep>")
    sep = hf.token_to_id("</s>") if sep is None else sep
    out, si, ni = {}, 0, 0
    for r in used_rows:
        row = rows[r]
        docs = docs_of(row)
        if docs is None:
            src = ids_s[si]
            si += 1
        else:
            src = empty[:1]
            for d in range(len(docs)):
                if d > 0:
                    src.append(sep)
                src.extend(ids_n[ni])
                ni += 1
            src += empty[1:]
        src = cut(src, a.max_source_length)
        exs = []
        for _ in targets_of(row, a.label_field):
            tgt = cut(ids_s[si], a.max_target_length)
            si += 1
            assert len(tgt) >= 2, f"row {r}: an empty summary"
            exs.append((src, tgt))
        out[r] = exs
    return out, {"texts": len(with_specials) + len(without), "differ_from_hf_tokenizer": mismatch}


def collate(batch, pad, start):
    """SummarizationTask::collate."""
    b, ls = len(batch), max(len(s) for s, _ in batch)
    lt = max(len(t) for _, t in batch)
    ids = torch.full((b, ls), pad, dtype=torch.long)
    mask = torch.zeros((b, ls), dtype=torch.long)
    labels = torch.full((b, lt), IGNORE, dtype=torch.long)
    dec = torch.full((b, lt), pad, dtype=torch.long)
    for k, (s, t) in enumerate(batch):
        ids[k, :len(s)] = torch.tensor(s)
        mask[k, :len(s)] = 1
        labels[k, :len(t)] = torch.tensor(t)
        dec[k, 0] = start
        n = min(len(t) + 1, lt)
        dec[k, 1:n] = torch.tensor(t[:n - 1])
    return ids, mask, dec, labels


# ----------------------------------------------------------------------------------------------
# kiln files (safetensors) <-> transformers


ST_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I64": torch.int64}


def read_safetensors(path, skip=()):
    """Tensors (as f32) and metadata; names starting with a prefix in `skip` are not read (a
    checkpoint's optimizer slots: they would only add to the peak RSS)."""
    tensors = {}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        meta = header.pop("__metadata__", {})
        for name, t in header.items():
            if name.startswith(tuple(skip)):
                continue
            a, b = t["data_offsets"]
            f.seek(8 + n + a)
            raw = bytearray(f.read(b - a))
            tensors[name] = torch.frombuffer(raw, dtype=ST_DTYPES[t["dtype"]]) \
                .reshape(t["shape"]).float() if b > a else torch.zeros(t["shape"])
    return tensors, meta


def load_kiln_model(path):
    """(config dict, transformers state dict) of a kiln model file or a run checkpoint."""
    tensors, meta = read_safetensors(path, skip=("optimizer.",))
    config = json.loads(meta["kiln.config"])
    sd = {}
    for name, t in tensors.items():
        # a checkpoint nests the model under "model." (model.model.shared.weight,
        # model.final_logits_bias); a model file does not
        if "kiln.train_state" in meta:
            assert name.startswith("model."), f"{path}: unexpected tensor {name}"
            name = name[len("model."):]
        sd[name] = t
    return config, sd, meta


def build_model(config, sd):
    from transformers import BartConfig, BartForConditionalGeneration
    cfg = BartConfig.from_dict(config)
    model = BartForConditionalGeneration(cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    tied = {"lm_head.weight", "model.encoder.embed_tokens.weight",
            "model.decoder.embed_tokens.weight"}
    assert not unexpected, f"kiln tensors transformers does not have: {unexpected}"
    assert set(missing) <= tied, f"not in the kiln file: {sorted(set(missing) - tied)}"
    shared = model.model.shared.weight
    for m in (model.lm_head, model.model.encoder.embed_tokens, model.model.decoder.embed_tokens):
        assert m.weight.data_ptr() == shared.data_ptr(), "embeddings are not tied as in kiln"
    return model


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = t.detach().float().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def export_hf(config, sd, tokenizer, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), sd)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    src = tokenizer if os.path.isfile(tokenizer) else os.path.join(tokenizer, "tokenizer.json")
    with open(src, "rb") as fi, open(os.path.join(out_dir, "tokenizer.json"), "wb") as fo:
        fo.write(fi.read())


# ----------------------------------------------------------------------------------------------
# training


def schedule_factor(step, total, warmup):
    """train/schedule.cpp, linear."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, 1.0 - (step - warmup) / max(1, total - warmup))


def decays(name):  # train/optimizer.cpp default_decay_filter
    return not (name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
                or "layernorm" in name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--init-from", required=True, help="kiln model file or run checkpoint")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--train")
    ap.add_argument("--text-field", default="text")
    ap.add_argument("--label-field", default="summary")
    ap.add_argument("--max-source-length", type=int)
    ap.add_argument("--max-target-length", type=int, default=128)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--warmup-steps", type=int)
    ap.add_argument("--warmup-ratio", type=float, default=0.0)
    ap.add_argument("--per-device-batch-size", type=int, default=8)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N updates (0: all)")
    ap.add_argument("--logging-steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kiln",
                    default=os.environ.get("KILN", os.path.join(ROOT, "build/tools/kiln")))
    ap.add_argument("--summary", help="also write the summary JSON here")
    ap.add_argument("--export-hf", help="write --init-from as a Hugging Face directory and exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    config, sd, meta = load_kiln_model(a.init_from)
    if a.export_hf:
        export_hf(config, sd, a.tokenizer, a.export_hf)
        return 0
    assert a.train, "--train is needed"
    init_state = json.loads(meta.get("kiln.train_state", "{}"))

    # ---- data: kiln's order, then only the rows the run reaches are tokenized ----
    t0 = time.perf_counter()
    rows = read_jsonl(a.train)
    max_pos = config["max_position_embeddings"]
    a.max_source_length = a.max_source_length or min(128, max_pos)
    # examples per row (a list of gold summaries gives one each): needed for the order alone
    per_row = [len(targets_of(r, a.label_field)) for r in rows]
    ex_row = [r for r, k in enumerate(per_row) for _ in range(k)]
    n_ex = len(ex_row)
    bs = a.per_device_batch_size
    per_epoch = (n_ex + bs - 1) // bs
    total = per_epoch * a.epochs
    warmup = a.warmup_steps if a.warmup_steps is not None else math.ceil(a.warmup_ratio * total)
    steps = min(total, a.max_steps) if a.max_steps > 0 else total
    gen = KilnGenerator(a.seed + 1)
    plan = []  # micro-batches (example indices) of the updates to run
    while len(plan) < steps:
        order = kiln_permutation(n_ex, gen)
        plan += [order[s:s + bs] for s in range(0, n_ex, bs)][:steps - len(plan)]
    used_rows = sorted({ex_row[i] for mb in plan for i in mb})
    enc, tok_check = build_examples(rows, used_rows, a, hf_tokenizer(a.tokenizer))
    # example index -> (source, target): the k-th example of a row is its k-th summary
    first = {}
    for i, r in enumerate(ex_row):
        first.setdefault(r, i)
    example = lambda i: enc[ex_row[i]][i - first[ex_row[i]]]  # noqa: E731
    pretokenize_s = time.perf_counter() - t0

    # ---- model, optimizer ----
    torch.manual_seed(a.seed)
    model = build_model(config, sd)
    del sd
    named = list(model.named_parameters())  # tied weights once, as model.shared.weight
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in named if decays(n)], "weight_decay": a.weight_decay},
         {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0}],
        lr=a.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    pad = config.get("pad_token_id", 1)
    start = config.get("decoder_start_token_id", 2)
    clip = a.max_grad_norm if a.max_grad_norm > 0 else math.inf
    torch.manual_seed(a.seed + 2)  # dropout stream
    model.train()
    opt.zero_grad(set_to_none=True)

    log, losses = [], []
    win = {"loss": 0.0, "n": 0, "src": 0, "tgt": 0}
    tot_src = tot_tgt = 0
    train_s = 0.0
    t_win = time.perf_counter()
    for step, mb in enumerate(plan):
        batch = [example(i) for i in mb]
        denom = sum(len(t) for _, t in batch)
        ids, mask, dec, labels = collate(batch, pad, start)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
                           use_cache=False).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                   ignore_index=IGNORE, reduction="sum",
                                   label_smoothing=a.label_smoothing)
        (loss / denom).backward()
        upd = loss.item() / denom
        gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
        assert math.isfinite(upd) and math.isfinite(gnorm), f"update {step + 1}: loss {upd}"
        lr = a.learning_rate * schedule_factor(step, total, warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        opt.zero_grad(set_to_none=True)
        src = sum(len(s) for s, _ in batch)
        losses.append(upd)
        win["loss"] += upd
        win["n"] += 1
        win["src"] += src
        win["tgt"] += denom
        if (step + 1) % max(1, a.logging_steps) == 0 or step + 1 == len(plan):
            secs = time.perf_counter() - t_win
            train_s += secs
            log.append({"step": step + 1, "loss": win["loss"] / win["n"], "lr": lr,
                        "grad_norm": gnorm, "src_tokens": win["src"], "tgt_tokens": win["tgt"],
                        "secs": round(secs, 4), "tokens_per_s": win["src"] / secs})
            print(json.dumps(log[-1]), file=sys.stderr, flush=True)
            tot_src += win["src"]
            tot_tgt += win["tgt"]
            win = {"loss": 0.0, "n": 0, "src": 0, "tgt": 0}
            t_win = time.perf_counter()
    wall_to_trained = time.perf_counter() - T_START
    summary = {
        "system": "torch", "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "threads": torch.get_num_threads(), "bf16": a.bf16,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "init_from": a.init_from, "init_train_state": init_state,
        "parameters": sum(p.numel() for _, p in named),
        "examples": n_ex, "rows": len(rows), "rows_tokenized": len(used_rows),
        "tokenizer_check": tok_check, "total_updates": total, "warmup_steps": warmup,
        "updates": len(plan), "pretokenize_s": round(pretokenize_s, 3), "log": log,
        "update_losses": losses, "train_wall_s": round(train_s, 3),
        "src_tokens": tot_src, "tgt_tokens": tot_tgt,
        "tokens_per_s": round(tot_src / train_s, 1),
        "src_tgt_tokens_per_s": round((tot_src + tot_tgt) / train_s, 1),
        "wall_to_trained_s": round(wall_to_trained, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "total_wall_s": round(time.perf_counter() - T_START, 3)}
    line = json.dumps(summary)
    if a.summary:
        with open(a.summary + ".tmp", "w") as f:
            f.write(line + "\n")
        os.replace(a.summary + ".tmp", a.summary)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
