#!/usr/bin/env python3
"""Writes pil_rgb_sha256.txt: for every JPEG under ../shared/data/ham10000, the sha256 of
Pillow's Image.open(path).convert("RGB") pixels (HWC bytes), so that image_decode_test checks
kiln's decoder byte for byte against PIL on all 70 sample images without Pillow at test time.
Made with Debian's python3-pil 9.4.0 on libjpeg62-turbo 2.1.5 (the versions of
../shared/refs/image-preprocess). Usage: tests/data/pil_rgb_sha256.py SHARED_DIR > OUT"""
import hashlib
import pathlib
import sys

from PIL import Image, features

root = pathlib.Path(sys.argv[1]) / "data" / "ham10000"
print(f"# Pillow {Image.__version__}, libjpeg-turbo (API {features.version('jpg')}): "
      "sha256 of convert('RGB').tobytes(), width, height, path under data/ham10000")
for path in sorted(root.glob("*/*.jpg")):
    with Image.open(path) as im:
        rgb = im.convert("RGB")
        digest = hashlib.sha256(rgb.tobytes()).hexdigest()
        print(digest, rgb.width, rgb.height, path.relative_to(root).as_posix())
