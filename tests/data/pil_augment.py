#!/usr/bin/env python3
"""Writes pil_augment.txt: the sha256 of the bytes Pillow 9.4.0 produces for each augmentation
step torchvision 0.14 applies to PIL images (rotate with NEAREST, flips, ImageEnhance
brightness / contrast / colour, and torchvision's adjust_hue re-stated below), on a 64x48
bilinear resize of a HAM10000 sample, so that image_augment_test checks kiln's steps byte for
byte without Pillow at test time. Usage: tests/data/pil_augment.py SHARED_DIR > pil_augment.txt"""
import hashlib
import pathlib
import sys

import numpy as np
from PIL import Image, ImageEnhance

src = Image.open(pathlib.Path(sys.argv[1]) / "data/ham10000/akiec/ISIC_0026083.jpg").convert("RGB")
base = src.resize((64, 48), Image.BILINEAR)


def adjust_hue(img, hue_factor):
    # torchvision 0.14 transforms/functional_pil.py adjust_hue, for an RGB image.
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    with np.errstate(over="ignore"):
        np_h += np.uint8(hue_factor * 255)
    h = Image.fromarray(np_h, "L")
    return Image.merge("HSV", (h, s, v)).convert("RGB")


ops = [("rotate", a, lambda a: base.rotate(a, Image.NEAREST, expand=False, fillcolor=(0, 0, 0)))
       for a in (0.0, 17.3, -33.7, 45.0, 90.0, 180.0, 270.0, -179.99, 359.5)]
ops += [("flip_horizontal", 0, lambda _: base.transpose(Image.FLIP_LEFT_RIGHT)),
        ("flip_vertical", 0, lambda _: base.transpose(Image.FLIP_TOP_BOTTOM))]
ops += [("brightness", f, lambda f: ImageEnhance.Brightness(base).enhance(f)) for f in (0.0, 0.6, 1.0, 1.37)]
ops += [("contrast", f, lambda f: ImageEnhance.Contrast(base).enhance(f)) for f in (0.5, 0.81, 1.7)]
ops += [("saturation", f, lambda f: ImageEnhance.Color(base).enhance(f)) for f in (0.2, 0.93, 1.8)]
ops += [("hue", f, lambda f: adjust_hue(base, f)) for f in (-0.5, -0.3, -0.05, 0.0, 0.1, 0.5)]
print("# sha256 of Pillow 9.4.0's result, step, parameter; input: akiec/ISIC_0026083.jpg resized to 64x48")
for name, param, fn in ops:
    print(hashlib.sha256(fn(param).tobytes()).hexdigest(), name, repr(float(param)))
