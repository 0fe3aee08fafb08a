#!/usr/bin/python3
"""PyTorch peer of `kiln train` (bench/train): the same BERT, data, recipe and measurements, in
plain torch.nn (Debian's python3-torch 1.13; transformers/tokenizers are not installed).

  torch_train.py --task token-classification|sequence-classification --config CONFIG.json \
      --tokenizer TOKENIZER --train F --eval F [--test F] [kiln train's options...] \
      [--kiln build/tools/kiln] [--threads 2] [--summary OUT.json] [--save-dir DIR] \
      [--export-hf DIR]
  torch_train.py --task ... --init-from RUN/best.kiln --eval F [--test F] --eval-only ...
      (scores a model kiln trained with this script's forward pass and data path: a cross-check)

What is the same as kiln train (train/*.cpp, nn/bert.cpp), by construction:
- Token ids: produced by `kiln tokenize` (no tokenizer is re-implemented here). Tagging: every word
  is encoded on its own without special tokens, and examples are assembled as
  train::encode_examples does: [CLS] + word pieces + [SEP], cut to --max-length, the label on the
  first piece of each word and -100 on the other pieces and the specials; a word with no piece or
  cut off by truncation is predicted "O". Classification: `kiln tokenize --add-special-tokens
  --max-length L` (truncation longest_first, as kiln train).
- Labels: integers 0..max -> "0", "1", ...; strings sorted with "O" first (train::labels_from_data).
- Model: HF BertForTokenClassification / BertForSequenceClassification, post-LN, exact erf GELU,
  LayerNorm eps from the config, dropout on embeddings, attention output, FFN output and before the
  classifier (classifier_dropout defaults to hidden_dropout_prob); sequence classification pools
  tanh(dense([CLS])). Attention-probability dropout: --attention-dropout defaults to "config" (the
  config's attention_probs_dropout_prob, as kiln and Hugging Face apply it); a number overrides.
- Init: normal(0, initializer_range) for every weight that is not a LayerNorm (embeddings, linear,
  pooler, classifier), zero biases, LayerNorm 1/0, the pad row of the word embeddings zeroed.
- Batches: the training examples reshuffled every epoch (a seeded permutation), cut in order into
  micro-batches of --per-device-batch-size (the last one may be short), --gradient-accumulation-
  steps micro-batches per update, each padded to its longest example.
- Loss: cross-entropy summed over scored targets with the class weights, divided by the summed
  weights of all scored targets of the update (= the weighted mean over the update's targets).
  --class-weights auto: n_targets / (n_seen_classes * count_c), 1 for unseen classes.
- AdamW(betas 0.9/0.999, eps 1e-8), decoupled weight decay on all but biases and LayerNorm
  parameters; clip_grad_norm_(max 1.0); lr of update s (0-based) = base * factor(s): linear
  warm-up from 0 over ceil(ratio * total) updates, then linear (or cosine) decay to 0.
- After each epoch: evaluate (batches of --per-device-batch-size in file order, no dropout);
  metric f1 (tagging) / accuracy (classification); a strictly better value saves the best state,
  otherwise --patience evaluations without improvement stop the run. Optional --save-dir writes a
  checkpoint (weights + optimizer + state) every epoch and the best weights when they improve,
  as kiln train writes checkpoint/ and best.kiln.
- Test: the best state scores --test with a window of --test-max-length tokens (default: the
  model's max_position_embeddings, as `kiln tag` / `kiln classify` truncate).
What differs: random streams (init, shuffle and dropout draw from torch's generators, not kiln's
Philox), float summation order, and the eager-mode implementation.

Timing: pretokenize_s (the `kiln tokenize` runs and example assembly) is excluded from
train_wall_s (the epoch loop, including per-epoch evaluation and --save-dir writes).
wall_to_trained_s: from the start of the script (before `import torch`) to the end of the epoch
loop: the peer of `kiln train`'s whole-process wall time (test scoring and export come after).
tokens_per_s = non-padding tokens of the training examples (specials included) per epoch x epochs
run / train_wall_s. peak_rss_mb = getrusage(RUSAGE_SELF).ru_maxrss read when the epoch loop ends
(import, data and training; this process only, not the kiln tokenize children), the peer of
`kiln train`'s peak; peak_rss_with_test_mb also covers the test scoring. Prints the summary
JSON as the last stdout line (and to --summary).
"""
import argparse
import copy
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

import torch  # noqa: E402  (import time counts in total_wall_s)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score import class_scores, entity_scores  # noqa: E402

IGNORE = -100
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ----------------------------------------------------------------------------------------------
# data


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def kiln_tokenize(kiln, tokenizer, texts, threads, specials, max_length=None):
    """ids and type_ids of each text, from `kiln tokenize` (one process for the whole list)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
        path = f.name
    try:
        cmd = [kiln, "tokenize", "--tokenizer", tokenizer, "--input", path,
               "--threads", str(threads)]
        # the flag defaults to true in `kiln tokenize` (its --help does not say so)
        cmd.append("--add-special-tokens=" + ("true" if specials else "false"))
        if max_length:
            cmd += ["--max-length", str(max_length)]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout.decode("utf-8")
    finally:
        os.unlink(path)
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(rows) == len(texts), f"kiln tokenize: {len(rows)} outputs for {len(texts)} inputs"
    return [(r["ids"], r["type_ids"]) for r in rows]


def labels_from_data(rows, task, label_field):
    vals = [l for r in rows for l in (r[label_field] if task == "tok" else [r[label_field]])]
    if all(isinstance(v, int) for v in vals):
        return [str(i) for i in range(max(vals) + 1)]
    assert all(isinstance(v, str) for v in vals), "labels must be all strings or all integers"
    names = sorted(set(vals))
    if task == "tok" and "O" in names:
        names.remove("O")
        names.insert(0, "O")
    return names


class Example:
    __slots__ = ("ids", "types", "labels", "word_labels", "word_tokens")


def label_id(v, label2id):
    return v if isinstance(v, int) else label2id[v]


def encode_tagging(rows, word_ids, specials, max_length, label2id, text_field, label_field):
    """train::encode_examples for word-level tagging."""
    room = max_length - len(specials)
    assert room > 0, f"--max-length {max_length} leaves no room next to the specials"
    out = []
    for r in rows:
        ex = Example()
        ids, labels, wl, wt = [], [], [], []
        if specials:
            ids.append(specials[0])
            labels.append(IGNORE)
        body = 0
        for word, tag in zip(r[text_field], r[label_field]):
            gold = label_id(tag, label2id)
            wl.append(gold)
            pieces = word_ids[word]
            if not pieces or body >= room:
                wt.append(-1)
                continue
            wt.append(len(ids))
            for k, p in enumerate(pieces):
                if body >= room:
                    break
                ids.append(p)
                labels.append(gold if k == 0 else IGNORE)
                body += 1
        for s in specials[1:]:
            ids.append(s)
            labels.append(IGNORE)
        ex.ids, ex.types, ex.labels, ex.word_labels, ex.word_tokens = ids, [0] * len(ids), labels, wl, wt
        out.append(ex)
    return out


def encode_classification(rows, encs, label2id, label_field):
    out = []
    for r, (ids, types) in zip(rows, encs):
        ex = Example()
        ex.ids, ex.types = ids, types
        ex.labels = [label_id(r[label_field], label2id)]
        ex.word_labels = ex.word_tokens = None
        out.append(ex)
    return out


def load_split(a, tag, path, max_length, label2id, cache):
    """Examples of one file; `cache` holds the tagging word encodings shared across files."""
    rows = read_jsonl(path)
    if tag:
        missing = sorted({w for r in rows for w in r[a.text_field]} - cache.keys())
        if missing:
            for w, (ids, _) in zip(missing, kiln_tokenize(a.kiln, a.tokenizer, missing, a.threads,
                                                          specials=False)):
                cache[w] = ids
        for r in rows:
            assert len(r[a.text_field]) == len(r[a.label_field]), f"{path}: words/tags differ"
        return rows, encode_tagging(rows, cache, cache["\0specials"], max_length, label2id,
                                    a.text_field, a.label_field)
    encs = kiln_tokenize(a.kiln, a.tokenizer, [r[a.text_field] for r in rows], a.threads,
                         specials=True, max_length=max_length)
    return rows, encode_classification(rows, encs, label2id, a.label_field)


def make_batch(data, idx, tag, pad_id):
    """train.cpp make_batch: pad to the longest example of the batch."""
    n = max(len(data[i].ids) for i in idx)
    b = len(idx)
    ids = torch.full((b, n), pad_id, dtype=torch.long)
    mask = torch.zeros((b, n), dtype=torch.long)
    types = torch.zeros((b, n), dtype=torch.long)
    targets = torch.full((b, n) if tag else (b,), IGNORE, dtype=torch.long)
    for r, i in enumerate(idx):
        e = data[i]
        k = len(e.ids)
        ids[r, :k] = torch.tensor(e.ids)
        mask[r, :k] = 1
        types[r, :k] = torch.tensor(e.types)
        if tag:
            targets[r, :k] = torch.tensor(e.labels)
        else:
            targets[r] = e.labels[0]
    return ids, mask, types, targets.reshape(-1)


# ----------------------------------------------------------------------------------------------
# model (parameter names as Hugging Face's, so the weights load into / export from kiln)


class SelfAttention(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)


class DenseNorm(nn.Module):
    def __init__(self, i, h, eps):
        super().__init__()
        self.dense = nn.Linear(i, h)
        self.LayerNorm = nn.LayerNorm(h, eps=eps)


class Attention(nn.Module):
    def __init__(self, h, eps):
        super().__init__()
        self.self = SelfAttention(h)
        self.output = DenseNorm(h, h, eps)


class Dense(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.dense = nn.Linear(i, o)


class Layer(nn.Module):
    def __init__(self, c, att_p):
        super().__init__()
        h, eps = c["hidden_size"], c.get("layer_norm_eps", 1e-12)
        self.heads = c["num_attention_heads"]
        self.attention = Attention(h, eps)
        self.intermediate = Dense(h, c["intermediate_size"])
        self.output = DenseNorm(c["intermediate_size"], h, eps)
        self.drop = nn.Dropout(c.get("hidden_dropout_prob", 0.1))
        self.att_drop = nn.Dropout(att_p)
        assert c.get("hidden_act", "gelu") == "gelu", "only exact (erf) GELU is written here"

    def forward(self, x, bias):
        b, l, h = x.shape
        dh = h // self.heads
        sa = self.attention.self

        def split(t):
            return t.view(b, l, self.heads, dh).transpose(1, 2)

        q, k, v = split(sa.query(x)), split(sa.key(x)), split(sa.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + bias
        p = self.att_drop(torch.softmax(s, dim=-1))
        ctx = torch.matmul(p, v).transpose(1, 2).reshape(b, l, h)
        ao = self.attention.output
        a = ao.LayerNorm(self.drop(ao.dense(ctx)) + x)
        f = self.output.dense(F.gelu(self.intermediate.dense(a)))
        return self.output.LayerNorm(self.drop(f) + a)


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], h)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(c.get("type_vocab_size", 2), h)
        self.LayerNorm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))


class Encoder(nn.Module):
    def __init__(self, c, att_p):
        super().__init__()
        self.layer = nn.ModuleList(Layer(c, att_p) for _ in range(c["num_hidden_layers"]))


class BertBody(nn.Module):
    def __init__(self, c, att_p, pooler):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c, att_p)
        if pooler:
            self.pooler = Dense(c["hidden_size"], c["hidden_size"])


class Bert(nn.Module):
    def __init__(self, c, tag, att_p):
        super().__init__()
        assert c.get("model_type", "bert") == "bert", "only model_type bert is written here"
        assert c.get("position_embedding_type", "absolute") == "absolute"
        self.tag = tag
        self.pad = c.get("pad_token_id", 0)
        self.bert = BertBody(c, att_p, pooler=not tag)
        self.drop = nn.Dropout(c.get("hidden_dropout_prob", 0.1))
        cd = c.get("classifier_dropout")
        self.cls_drop = nn.Dropout(c.get("hidden_dropout_prob", 0.1) if cd is None else cd)
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))
        std = c.get("initializer_range", 0.02)
        with torch.no_grad():  # BertModel::init_weights
            for name, p in self.named_parameters():
                if "LayerNorm" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, std)
            if 0 <= self.pad < c["vocab_size"]:
                self.bert.embeddings.word_embeddings.weight[self.pad].zero_()

    def forward(self, ids, mask, types):
        b, l = ids.shape
        e = self.bert.embeddings
        pos = torch.arange(l).unsqueeze(0).expand(b, l)
        x = self.drop(e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(pos) +
                                  e.token_type_embeddings(types)))
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.bert.encoder.layer:
            x = layer(x, bias)
        if self.tag:
            return self.classifier(self.cls_drop(x))
        pooled = torch.tanh(self.bert.pooler.dense(x[:, 0]))
        return self.classifier(self.cls_drop(pooled))


# ----------------------------------------------------------------------------------------------
# safetensors (kiln model files are safetensors; the export is read by `kiln convert`)

ST_DTYPES = {"F32": torch.float32, "I64": torch.int64, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        raw = bytearray(data[a:b])
        tensors[name] = torch.frombuffer(raw, dtype=ST_DTYPES[t["dtype"]]).reshape(t["shape"]) \
            if b > a else torch.zeros(t["shape"], dtype=ST_DTYPES[t["dtype"]])
    return tensors, meta


def write_safetensors(path, tensors):
    names = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def export_hf(model, config, tokenizer, out_dir):
    """A Hugging Face checkpoint directory for `kiln convert` (and transformers)."""
    os.makedirs(out_dir, exist_ok=True)
    sd = dict(model.state_dict())
    sd["bert.embeddings.position_ids"] = torch.arange(config["max_position_embeddings"]).reshape(1, -1)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), sd)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    src = tokenizer if os.path.isfile(tokenizer) else os.path.join(tokenizer, "tokenizer.json")
    with open(src, "rb") as fi, open(os.path.join(out_dir, "tokenizer.json"), "wb") as fo:
        fo.write(fi.read())


# ----------------------------------------------------------------------------------------------
# training


def schedule_factor(step, total, warmup, kind):
    """train/schedule.cpp"""
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    if kind == "linear":
        return max(0.0, 1.0 - progress)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def decays(name):  # train/optimizer.cpp default_decay_filter
    return not (name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name)


def auto_class_weights(data, nl):
    counts = [0] * nl
    for e in data:
        for t in e.labels:
            if t != IGNORE:
                counts[t] += 1
    total, seen = sum(counts), sum(c > 0 for c in counts)
    return [total / (seen * c) if c > 0 else 1.0 for c in counts], counts


@torch.no_grad()
def evaluate(model, data, labels, tag, bs, pad):
    was = model.training
    model.eval()
    gold_t, pred_t, gold_c, pred_c = [], [], [], []
    for s in range(0, len(data), bs):
        idx = list(range(s, min(len(data), s + bs)))
        ids, mask, types, _ = make_batch(data, idx, tag, pad)
        pred = model(ids, mask, types).argmax(-1)
        for r, i in enumerate(idx):
            e = data[i]
            if not tag:
                gold_c.append(e.labels[0])
                pred_c.append(int(pred[r]))
                continue
            gold_t.append([labels[g] for g in e.word_labels])
            pred_t.append(["O" if t < 0 else labels[int(pred[r, t])] for t in e.word_tokens])
    model.train(was)
    if tag:
        return entity_scores(gold_t, pred_t)
    return class_scores(gold_c, pred_c)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", required=True,
                    choices=["token-classification", "sequence-classification"])
    ap.add_argument("--config")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--train")
    ap.add_argument("--eval", required=True)
    ap.add_argument("--test")
    ap.add_argument("--text-field")
    ap.add_argument("--label-field")
    ap.add_argument("--max-length", type=int)
    ap.add_argument("--test-max-length", type=int,
                    help="default: max_position_embeddings (what kiln tag/classify use)")
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--warmup-steps", type=int)
    ap.add_argument("--warmup-ratio", type=float, default=0.0)
    ap.add_argument("--lr-scheduler", choices=["linear", "cosine"], default="linear")
    ap.add_argument("--per-device-batch-size", type=int, default=8)
    ap.add_argument("--gradient-accumulation-steps", type=int, default=1)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--class-weights")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--patience", type=int, default=0)
    ap.add_argument("--attention-dropout", default="config",
                    help="attention-probability dropout: a number, or 'config' (default, as kiln)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kiln", default=os.environ.get("KILN", os.path.join(ROOT, "build/tools/kiln")))
    ap.add_argument("--summary", help="also write the summary JSON here")
    ap.add_argument("--save-dir", help="per-epoch checkpoint + best weights (kiln writes both)")
    ap.add_argument("--export-hf", help="write the best model as a HF checkpoint dir here")
    ap.add_argument("--export-init", help="write the initialised model as a HF checkpoint dir "
                    "here and exit (a common start for run.sh's lockstep check)")
    ap.add_argument("--init-from", help="a kiln model file (safetensors) to load instead of init")
    ap.add_argument("--eval-only", action="store_true",
                    help="with --init-from: score --eval/--test, no training")
    ap.add_argument("--logging-steps", type=int, default=10,
                    help="the summary's log: lr, loss, grad norm every N updates and at epoch ends "
                    "(as kiln's metrics.jsonl)")
    a = ap.parse_args()
    tag = a.task == "token-classification"
    a.text_field = a.text_field or ("tokens" if tag else "text")
    a.label_field = a.label_field or ("bio_tags" if tag else "label")
    torch.set_num_threads(a.threads)

    # ---- config and labels ----
    kiln_weights = None
    if a.init_from:
        kiln_weights, meta = read_safetensors(a.init_from)
        config = json.loads(meta["kiln.config"])
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    else:
        assert a.config and a.train, "--config and --train are needed to train"
        with open(a.config) as f:
            config = json.load(f)
    if not a.eval_only:
        assert a.train, "--train is needed to train"
    t0 = time.perf_counter()
    train_rows = read_jsonl(a.train) if a.train else None
    if not a.init_from:
        labels = labels_from_data(train_rows, "tok" if tag else "seq", a.label_field)
        config["architectures"] = ["BertForTokenClassification" if tag
                                   else "BertForSequenceClassification"]
        config["id2label"] = {str(i): l for i, l in enumerate(labels)}
        config["label2id"] = {l: i for i, l in enumerate(labels)}
    label2id = {l: i for i, l in enumerate(labels)}
    max_pos = config["max_position_embeddings"]
    max_length = a.max_length or min(128, max_pos)
    test_max_length = a.test_max_length or max_pos
    pad = config.get("pad_token_id", 0)

    # ---- data (pre-tokenisation: excluded from the training wall time) ----
    cache = {}
    if tag:
        cache["\0specials"] = kiln_tokenize(a.kiln, a.tokenizer, [""], a.threads, specials=True)[0][0]
    train = None
    if a.train and not a.eval_only:
        _, train = load_split(a, tag, a.train, max_length, label2id, cache)
    _, evald = load_split(a, tag, a.eval, max_length, label2id, cache)
    test = load_split(a, tag, a.test, test_max_length, label2id, cache)[1] if a.test else None
    pretokenize_s = time.perf_counter() - t0

    # ---- model ----
    torch.manual_seed(a.seed)
    att_p = config.get("attention_probs_dropout_prob", 0.1) if a.attention_dropout == "config" \
        else float(a.attention_dropout)
    model = Bert(config, tag, att_p)
    n_params = sum(p.numel() for p in model.parameters())
    if kiln_weights is not None:
        sd = {k: v.float() for k, v in kiln_weights.items() if k != "bert.embeddings.position_ids"}
        model.load_state_dict(sd, strict=True)
    if a.export_init:
        export_hf(model, config, a.tokenizer, a.export_init)
        return 0
    summary = {"system": "torch", "task": a.task, "torch": torch.__version__,
               "threads": torch.get_num_threads(), "labels": labels, "parameters": n_params,
               "parameters_with_position_ids": n_params + max_pos,
               "max_length": max_length, "test_max_length": test_max_length,
               "attention_dropout": att_p,
               "examples": {"eval": len(evald), **({"test": len(test)} if test else {})},
               "pretokenize_s": round(pretokenize_s, 3)}
    metric = "f1" if tag else "accuracy"
    summary["metric"] = metric

    if a.eval_only:
        assert kiln_weights is not None, "--eval-only needs --init-from"
        t1 = time.perf_counter()
        summary["eval"] = evaluate(model, evald, labels, tag, a.per_device_batch_size, pad)
        if test:
            summary["test"] = evaluate(model, test, labels, tag, a.per_device_batch_size, pad)
        summary["eval_s"] = round(time.perf_counter() - t1, 3)
        summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return finish(summary, a)

    # ---- recipe ----
    nl = len(labels)
    bs, accum = a.per_device_batch_size, a.gradient_accumulation_steps
    micro = (len(train) + bs - 1) // bs
    per_epoch = (micro + accum - 1) // accum
    total = per_epoch * a.epochs
    warmup = a.warmup_steps if a.warmup_steps is not None else math.ceil(a.warmup_ratio * total)
    weights, counts = auto_class_weights(train, nl)
    if a.class_weights == "auto":
        cw = weights
    elif a.class_weights:
        cw = [float(x) for x in a.class_weights.split(",")]
        assert len(cw) == nl
    else:
        cw = None
    cw_t = torch.tensor(cw, dtype=torch.float32) if cw else None
    cw_f = cw_t.tolist() if cw else None  # kiln sums the f32 weights in double
    tokens_per_epoch = sum(len(e.ids) for e in train)
    summary.update({"examples": {"train": len(train), **summary["examples"]},
                    "train_tokens_per_epoch": tokens_per_epoch,
                    "scored_targets_per_epoch": sum(counts), "target_counts": counts,
                    "class_weights": cw, "total_updates": total, "warmup_steps": warmup})
    groups_of = []  # filled per epoch

    decay = [p for n, p in model.named_parameters() if decays(n)]
    no_decay = [p for n, p in model.named_parameters() if not decays(n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    shuffle = torch.Generator().manual_seed(a.seed + 1)
    torch.manual_seed(a.seed + 2)  # dropout stream
    lrs = {}
    if a.save_dir:
        os.makedirs(a.save_dir, exist_ok=True)

    model.train()
    opt.zero_grad(set_to_none=True)
    step, best, best_epoch, bad, epochs_run = 0, -math.inf, -1, 0, 0
    best_state, history, eval_s = None, [], 0.0
    t_loop = time.perf_counter()
    for epoch in range(a.epochs):
        order = torch.randperm(len(train), generator=shuffle).tolist()
        mbs = [order[s:s + bs] for s in range(0, len(order), bs)]
        groups_of = [mbs[g:g + accum] for g in range(0, len(mbs), accum)]
        loss_sum, win_loss, win_n = 0.0, 0.0, 0
        for gi, group in enumerate(groups_of):
            denom, upd_loss = 0.0, 0.0
            for mb in group:
                for i in mb:
                    for t in train[i].labels:
                        if t != IGNORE:
                            denom += cw_f[t] if cw_f else 1.0
            if denom > 0:
                for mb in group:
                    ids, mask, types, targets = make_batch(train, mb, tag, pad)
                    logits = model(ids, mask, types).reshape(-1, nl)
                    loss = F.cross_entropy(logits, targets, weight=cw_t, ignore_index=IGNORE,
                                           reduction="sum")
                    upd_loss += loss.item() / denom
                    (loss / denom).backward()
            loss_sum += upd_loss
            win_loss += upd_loss
            win_n += 1
            gnorm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), a.max_grad_norm if a.max_grad_norm > 0 else math.inf)
            lr = a.learning_rate * schedule_factor(step, total, warmup, a.lr_scheduler)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if step % max(1, a.logging_steps) == 0 or gi + 1 == len(groups_of):
                # keyed like kiln's metrics.jsonl "step" (updates done); loss: the window's mean
                lrs[str(step)] = {"lr": lr, "loss": win_loss / win_n, "grad_norm": float(gnorm)}
                win_loss, win_n = 0.0, 0
        epochs_run += 1
        te = time.perf_counter()
        m = evaluate(model, evald, labels, tag, bs, pad)
        eval_s += time.perf_counter() - te
        history.append({"epoch": epoch + 1, "step": step, "train_loss": loss_sum / len(groups_of),
                        "eval": m})
        print(json.dumps(history[-1]), file=sys.stderr, flush=True)
        stop = False
        if m[metric] > best:
            best, best_epoch, bad = m[metric], epoch + 1, 0
            best_state = copy.deepcopy(model.state_dict())
            if a.save_dir:
                atomic_save(best_state, os.path.join(a.save_dir, "best.pt"))
        elif a.patience > 0:
            bad += 1
            stop = bad >= a.patience
        if a.save_dir:
            atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "state": {"epoch": epoch + 1, "step": step, "best": best,
                                   "best_epoch": best_epoch, "bad": bad,
                                   "shuffle": shuffle.get_state()}},
                        os.path.join(a.save_dir, "checkpoint.pt"))
        if stop:
            break
    train_wall = time.perf_counter() - t_loop
    rss_train = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before test scoring
    wall_to_trained = time.perf_counter() - T_START  # the peer of kiln train's process wall

    model.load_state_dict(best_state)
    t1 = time.perf_counter()
    if test:
        summary["test"] = evaluate(model, test, labels, tag, bs, pad)
    summary["test_s"] = round(time.perf_counter() - t1, 3)
    if a.export_hf:
        export_hf(model, config, a.tokenizer, a.export_hf)
    summary.update({
        "epochs_run": epochs_run, "best_epoch": best_epoch, "updates": step,
        "eval_best": history[best_epoch - 1]["eval"], "eval_history": history, "log": lrs,
        "train_wall_s": round(train_wall, 3), "eval_wall_s": round(eval_s, 3),
        "wall_to_trained_s": round(wall_to_trained, 3),
        "tokens_trained": tokens_per_epoch * epochs_run,
        "tokens_per_s": round(tokens_per_epoch * epochs_run / train_wall, 1),
        "peak_rss_mb": round(rss_train, 1),
        "peak_rss_with_test_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
    return finish(summary, a)


def finish(summary, a):
    summary["total_wall_s"] = round(time.perf_counter() - T_START, 3)
    line = json.dumps(summary)
    if a.summary:
        with open(a.summary, "w") as f:
            f.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
