#!/usr/bin/env python3
"""PyTorch peer of the kiln Fashion-MNIST run (bench/fmnist/run.sh): the same small-stem
DenseNet-BC trained from scratch with the same recipe, on the same number of threads.

  torch_fmnist.py [--idx-dir /usr/share/datasets/fashion-mnist] [--epochs 1] [--batch-size 64]
                  [--lr 0.1] [--momentum 0.9] [--nesterov] [--weight-decay 5e-4] [--hflip 0.5]
                  [--growth 12] [--blocks 6,6,6] [--init-features 24] [--bn-size 4]
                  [--threads 1] [--seed 1] [--out result.json]

What is the same as kiln's `kiln train --task image-classification` with the config of run.sh:
  - data: the IDX files of Debian's dataset-fashion-mnist, the files scripts/fashion_mnist_to_png.py
    turns into the PNGs kiln reads (a grayscale PNG decodes to these bytes, replicated to RGB);
    pixel / 255, normalised with mean 0.286 and std 0.353 on each of the 3 channels;
  - model: DenseNet-BC with the paper's CIFAR stem (kiln config "stem": "small"): conv0 3x3 stride
    1 padding 1 (3 -> init features, no bias, no norm / relu / pool), dense layers
    norm-relu-conv1x1 (bn_size x growth)-norm-relu-conv3x3 (growth), transitions
    norm-relu-conv1x1 (half the channels)-avgpool 2x2, norm5-relu-global average pool-linear.
    torchvision's DenseNet cannot have this stem (and is not in this venv), so it is written here
    with torchvision's module names and init (kaiming_normal_ convs, BN 1/0, linear bias 0);
  - loss: mean cross-entropy; no gradient clipping (kiln: --max-grad-norm 0);
  - optimizer: torch.optim.SGD, momentum, Nesterov, weight decay on every parameter except those
    whose name ends in "bias" (kiln's decay filter: it decays BN weights, not BN or linear biases);
  - schedule: per update k of K, lr = base * 0.5 * (1 + cos(pi * k / K)), no warm-up (kiln's
    cosine); K = epochs * ceil(60000 / batch), the last batch of each epoch smaller;
  - augmentation: horizontal flip with probability 0.5 per image (kiln: --hflip 0.5 --crop-scale 0);
  - evaluation on the 10,000 test images after every epoch (included in the wall time, as kiln's).
What differs: the random streams (initial weights, shuffling, flips) are torch's, not kiln's
Philox streams, so the two runs see the same distributions, not the same draws.

Prints one line per epoch and a final line
  "torch fmnist test_accuracy=.. best_accuracy=.. wall_s=.. peak_rss_mb=.. threads=.. torch=.."
and with --out writes the same as JSON (with the per-epoch history).
"""
import argparse
import gzip
import json
import math
import os
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.286, 0.353


def read_idx(path):
    """An IDX file (gzip or not) as a uint8 tensor of its shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    body = data[4 + 4 * ndim :]
    if len(body) != math.prod(dims):
        raise SystemExit(f"{path}: {len(body)} bytes of data for shape {dims}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def load_split(idx_dir, prefix):
    """uint8 images [N, 28, 28] and labels (kept as bytes: kiln holds PNG bytes, not floats)."""
    images = read_idx(os.path.join(idx_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(idx_dir, f"{prefix}-labels-idx1-ubyte.gz")).long()
    return images, labels


def pixel_values(images):
    """uint8 [B, 28, 28] -> normalised f32 [B, 3, 28, 28] (gray replicated, as a gray PNG
    decoded to RGB)."""
    x = (images.float() / 255.0 - MEAN) / STD
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        h = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(h)))


class Transition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.norm(x))), 2, 2)


class SmallStemDenseNet(nn.Module):
    def __init__(self, growth, blocks, init_features, bn_size, num_classes=10):
        super().__init__()
        self.conv0 = nn.Conv2d(3, init_features, 3, padding=1, bias=False)
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        ch = init_features
        for b, n in enumerate(blocks):
            layers = nn.ModuleList()
            for _ in range(n):
                layers.append(DenseLayer(ch, growth, bn_size))
                ch += growth
            self.blocks.append(layers)
            if b + 1 < len(blocks):
                self.transitions.append(Transition(ch, ch // 2))
                ch //= 2
        self.norm5 = nn.BatchNorm2d(ch)
        self.classifier = nn.Linear(ch, num_classes)
        for m in self.modules():  # torchvision's DenseNet init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        h = self.conv0(x)
        for b, layers in enumerate(self.blocks):
            feats = [h]
            for layer in layers:
                feats.append(layer(torch.cat(feats, 1)))
            h = torch.cat(feats, 1)
            if b < len(self.transitions):
                h = self.transitions[b](h)
        h = F.relu(self.norm5(h))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def evaluate(model, x, y, batch):
    model.eval()
    correct, loss = 0, 0.0
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            logits = model(pixel_values(x[i : i + batch]))
            loss += F.cross_entropy(logits, y[i : i + batch], reduction="sum").item()
            correct += (logits.argmax(1) == y[i : i + batch]).sum().item()
    model.train()
    return correct / len(x), loss / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--idx-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--hflip", type=float, default=0.5)
    ap.add_argument("--growth", type=int, default=12)
    ap.add_argument("--blocks", default="6,6,6")
    ap.add_argument("--init-features", type=int, default=24)
    ap.add_argument("--bn-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N updates (timing only)")
    ap.add_argument("--out", help="write the result as JSON here")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    start = time.perf_counter()
    xtr, ytr = load_split(a.idx_dir, "train")
    xte, yte = load_split(a.idx_dir, "t10k")
    blocks = [int(b) for b in a.blocks.split(",")]
    model = SmallStemDenseNet(a.growth, blocks, a.init_features, a.bn_size)
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=a.lr, momentum=a.momentum, nesterov=a.nesterov)
    per_epoch = math.ceil(len(xtr) / a.batch_size)
    total = a.epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: max(0.0, 0.5 * (1.0 + math.cos(math.pi * k / total))))
    gen = torch.Generator().manual_seed(a.seed)
    history, step = [], 0
    model.train()
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(xtr), generator=gen)
        loss_sum = 0.0
        for i in range(0, len(xtr), a.batch_size):
            idx = order[i : i + a.batch_size]
            xb, yb = pixel_values(xtr[idx]), ytr[idx]
            flip = torch.rand(len(idx), generator=gen) < a.hflip
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item()
            step += 1
            if step % 100 == 0:
                print(f"step {step}/{total} loss {loss.item():.4f} "
                      f"{step * a.batch_size / (time.perf_counter() - start):.1f} img/s",
                      flush=True)
            if a.max_steps and step >= a.max_steps:
                break
        train_s = time.perf_counter() - t0
        if a.max_steps and step >= a.max_steps:  # a timing run: no evaluation
            print(f"torch fmnist timing: {step} updates of {a.batch_size} in {train_s:.1f} s "
                  f"(cpu {time.process_time():.1f} s), "
                  f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
            return 0
        acc, test_loss = evaluate(model, xte, yte, 256)
        history.append({"epoch": epoch + 1, "test_accuracy": acc, "test_loss": test_loss,
                        "train_loss": loss_sum / per_epoch, "epoch_s": time.perf_counter() - t0,
                        "train_s": train_s})
        print(json.dumps(history[-1]), flush=True)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result = {"test_accuracy": history[-1]["test_accuracy"],
              "best_accuracy": max(h["test_accuracy"] for h in history), "wall_s": wall,
              "peak_rss_mb": peak_mb, "threads": a.threads, "torch": torch.__version__,
              "args": vars(a), "history": history}
    print(f"torch fmnist test_accuracy={result['test_accuracy']:.4f} "
          f"best_accuracy={result['best_accuracy']:.4f} wall_s={wall:.1f} "
          f"peak_rss_mb={peak_mb:.0f} threads={a.threads} torch={torch.__version__}", flush=True)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, a.out)


if __name__ == "__main__":
    sys.exit(main())
