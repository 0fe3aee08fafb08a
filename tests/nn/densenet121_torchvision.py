#!/usr/bin/env python3
"""Writes a seeded random torchvision densenet121 checkpoint and its outputs for
densenet121_torchvision_test.cpp: OUT/config.json (timm-style: "architecture": "densenet121"),
OUT/model.safetensors (state_dict, BN running statistics randomised so that eval mode is not the
identity), OUT/reference.safetensors (input [2, 3, 224, 224], logits_eval, grad.<name> =
d sum(logits_eval * probe) / d parameter with the probe stored as `probe`, then logits_train and
running.<name>: the running statistics after that train-mode forward).
Needs Debian's python3-torchvision; writes safetensors by hand (no numpy, no safetensors package).
Usage: densenet121_torchvision.py OUT_DIR"""
import ctypes
import json
import pathlib
import struct
import sys

import torch
import torchvision

DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        data = ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def main():
    out = pathlib.Path(sys.argv[1])
    torch.manual_seed(20261204)
    torch.set_num_threads(2)
    model = torchvision.models.densenet121(weights=None, num_classes=1000)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    save(out / "model.safetensors", model.state_dict())
    (out / "config.json").write_text(json.dumps({
        "architecture": "densenet121", "num_classes": 1000,
        "pretrained_cfg": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                           "input_size": [3, 224, 224], "interpolation": "bicubic",
                           "crop_pct": 0.875}}))
    x = torch.randn(2, 3, 224, 224)
    # Gradients in eval mode: at batch 2, train-mode batch norm makes the gradients of the deep
    # layers so ill-conditioned that torch's own f32 and f64 runs differ by up to 19% (measured);
    # train-mode gradients are checked on the tiny fixtures instead.
    model.eval()
    logits_eval = model(x)
    probe = torch.randn(logits_eval.shape)
    (logits_eval * probe).sum().backward()
    ref = {"input": x, "logits_eval": logits_eval, "probe": probe}
    for name, p in model.named_parameters():
        ref["grad." + name] = p.grad
    model.train()
    with torch.no_grad():
        ref["logits_train"] = model(x)
    for name, b in model.state_dict().items():
        if name.endswith("running_mean") or name.endswith("running_var"):
            ref["running." + name] = b
    save(out / "reference.safetensors", ref)
    print(f"torchvision {torchvision.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
