#!/usr/bin/env python3
"""Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)
turned into what `kiln train --task image-classification` reads: one grayscale PNG per image and
a CSV per split with columns image,label (the class names). Python's standard library only.

    python3 scripts/fashion_mnist_to_png.py [--src DIR] -o OUT
    # OUT/train.csv, OUT/test.csv, OUT/train/00000.png ...
"""
import argparse
import csv
import gzip
import os
import struct
import sys
import zlib

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        sys.exit(f"{path}: not an IDX file of unsigned bytes")
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    body = data[4 + 4 * dims:]
    n = 1
    for s in shape:
        n *= s
    if len(body) != n:
        sys.exit(f"{path}: {len(body)} bytes of data for shape {shape}")
    return shape, body


def png_gray(width, height, pixels):
    def chunk(kind, payload):
        c = kind + payload
        return struct.pack(">I", len(payload)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        (n, h, w), images = read_idx(os.path.join(args.src, f"{prefix}-images-idx3-ubyte.gz"))
        (m,), labels = read_idx(os.path.join(args.src, f"{prefix}-labels-idx1-ubyte.gz"))
        if n != m:
            sys.exit(f"{split}: {n} images but {m} labels")
        os.makedirs(os.path.join(args.out, split), exist_ok=True)
        rows = []
        for i in range(n):
            name = f"{split}/{i:05d}.png"
            with open(os.path.join(args.out, name), "wb") as f:
                f.write(png_gray(w, h, images[i * h * w:(i + 1) * h * w]))
            rows.append((name, CLASSES[labels[i]]))
        tmp = os.path.join(args.out, f"{split}.csv.tmp")
        with open(tmp, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["image", "label"])
            wr.writerows(rows)
        os.replace(tmp, os.path.join(args.out, f"{split}.csv"))
        print(f"{split}: {n} images of {w}x{h}")


if __name__ == "__main__":
    main()
