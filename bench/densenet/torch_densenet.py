#!/usr/bin/env python3
"""PyTorch peer for bench_densenet_bench: DenseNet121 (torchvision's configuration), seeded random
weights and inputs, 2 threads.

  torch_densenet.py --mode fwd|train [--batch 8] [--size 224] [--runs 5] [--warmup 1] [--threads 2]
  torch_densenet.py --export FILE.onnx      # the ONNX Runtime peer's model (ort_densenet.py)

The model is torchvision.models.densenet121 when torchvision imports; otherwise `DenseNet121`
below, the same architecture with the same parameter names written out here (the PyPI venv at
/work/venv-bench has torch but no torchvision), so the newest torch can be timed. The output line
says which ("impl=torchvision|local"). fwd: eval mode under torch.inference_mode() (channels_last
too with --channels-last, PyTorch's faster CPU layout for convolutions); train: train mode, cross
entropy, backward and SGD with momentum 0.9, as the kiln bench does. --bf16: the forward and
loss under torch.autocast("cpu", dtype=torch.bfloat16) (training mode only; PyTorch's mixed
precision, as kiln's --bf16).
Prints one line: "torch mode=.. batch=.. median_ms=.. min_ms=.. peak_rss_mb=.. impl=.. torch=..".
"""
import argparse
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class _DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, feats):
        h = self.conv1(self.relu1(self.norm1(torch.cat(feats, 1))))
        return self.conv2(self.relu2(self.norm2(h)))


class _DenseBlock(nn.ModuleDict):
    def __init__(self, layers, cin, growth, bn_size):
        super().__init__()
        for i in range(layers):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(cin + i * growth, growth, bn_size))

    def forward(self, x):
        feats = [x]
        for layer in self.values():
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class _Transition(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet121(nn.Module):
    """torchvision's densenet121 (growth 32, blocks 6/12/24/16, 64 initial features, bn_size 4)."""

    def __init__(self, growth=32, blocks=(6, 12, 24, 16), init=64, bn_size=4, classes=1000):
        super().__init__()
        f = nn.Sequential()
        f.add_module("conv0", nn.Conv2d(3, init, 7, 2, 3, bias=False))
        f.add_module("norm0", nn.BatchNorm2d(init))
        f.add_module("relu0", nn.ReLU(inplace=True))
        f.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        ch = init
        for i, n in enumerate(blocks):
            f.add_module(f"denseblock{i + 1}", _DenseBlock(n, ch, growth, bn_size))
            ch += n * growth
            if i + 1 < len(blocks):
                f.add_module(f"transition{i + 1}", _Transition(ch, ch // 2))
                ch //= 2
        f.add_module("norm5", nn.BatchNorm2d(ch))
        self.features = f
        self.classifier = nn.Linear(ch, classes)

    def forward(self, x):
        h = F.relu(self.features(x), inplace=True)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def build():
    torch.manual_seed(42)
    try:
        import torchvision
        return torchvision.models.densenet121(weights=None), "torchvision"
    except Exception:  # no torchvision in this Python (or an old one without `weights=`)
        return DenseNet121(), "local"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["fwd", "train"], default="fwd")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--export", metavar="FILE")
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, impl = build()
    if a.export:
        model.eval()
        with torch.no_grad():
            kw = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
            torch.onnx.export(model, torch.randn(1, 3, a.size, a.size), a.export,
                              input_names=["pixel_values"], output_names=["logits"],
                              opset_version=17, dynamic_axes={"pixel_values": {0: "batch"},
                                                              "logits": {0: "batch"}}, **kw)
        print(f"exported {a.export} impl={impl} torch={torch.__version__}")
        return
    g = torch.Generator().manual_seed(7)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=g)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    ms = []
    if a.mode == "fwd":
        model.eval()
        with torch.inference_mode():
            for r in range(a.warmup + a.runs):
                t0 = time.perf_counter()
                model(x)
                if r >= a.warmup:
                    ms.append((time.perf_counter() - t0) * 1e3)
    else:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        labels = torch.tensor([(i * 137) % 1000 for i in range(a.batch)])
        for r in range(a.warmup + a.runs):
            t0 = time.perf_counter()
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                loss = F.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
            if r >= a.warmup:
                ms.append((time.perf_counter() - t0) * 1e3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch mode={a.mode} batch={a.batch} size={a.size} threads={a.threads} runs={a.runs} "
          f"median_ms={statistics.median(ms):.1f} min_ms={min(ms):.1f} peak_rss_mb={rss:.0f} "
          f"impl={impl} channels_last={int(a.channels_last)} bf16={int(a.bf16)} "
          f"torch={torch.__version__}")


if __name__ == "__main__":
    sys.exit(main())
