#!/usr/bin/env python3
"""Writes pil_formats/: small JPEG and PNG files in every colour type kiln's decoder converts, cut
from a real HAM10000 sample, and pil_formats/expected.txt with the sha256 of Pillow's
Image.open(f).convert("RGB") bytes for each, so that image_formats_test checks the conversions
byte for byte without Pillow at test time. Made with Debian's python3-pil 9.4.0 (libjpeg-turbo
2.1.5, libpng 1.6.39). Usage: tests/data/pil_formats.py SHARED_DIR"""
import hashlib
import pathlib
import struct
import sys
import zlib

from PIL import Image

here = pathlib.Path(__file__).parent / "pil_formats"
src = Image.open(pathlib.Path(sys.argv[1]) / "data/ham10000/akiec/ISIC_0026083.jpg")
rgb = src.convert("RGB").resize((48, 36), Image.BILINEAR)
gray = rgb.convert("L")


def png_by_hand(name, bit_depth, color_type, row_bytes, interlace=False):
    """A PNG written here, for the kinds PIL cannot write (16-bit RGB, 4-bit gray, Adam7).
    row_bytes(y, xs) returns the packed bytes of row y's pixels at columns xs."""
    w, h = rgb.size
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)] if interlace else [(0, 0, 1, 1)]
    raw = b""
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, w, dx))
        if xs:
            for y in range(y0, h, dy):
                raw += b"\0" + bytes(row_bytes(y, xs))
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) +
            chunk(b"IEND", b""))
    (here / name).write_bytes(data)


def nibbles(values):
    values = list(values)
    values += [0] * (len(values) % 2)
    return [(values[i] << 4) | values[i + 1] for i in range(0, len(values), 2)]


files = {
    "gray.jpg": lambda p: gray.save(p, quality=90),
    "cmyk.jpg": lambda p: rgb.convert("CMYK").save(p, quality=90),
    "rgb420.jpg": lambda p: rgb.save(p, quality=85, subsampling=2),
    "progressive.jpg": lambda p: rgb.save(p, quality=85, progressive=True),
    "gray.png": lambda p: gray.save(p),
    "gray_alpha.png": lambda p: Image.merge("LA", (gray, gray.point(lambda v: 255 - v))).save(p),
    "rgba.png": lambda p: Image.merge("RGBA", (*rgb.split(), gray)).save(p),
    "palette.png": lambda p: rgb.quantize(37).save(p),
    "palette_trns.png": lambda p: rgb.quantize(16).save(p, transparency=3),
    "bilevel.png": lambda p: gray.convert("1").save(p),
}

for name, make in files.items():
    make(here / name)
png_by_hand("rgb16.png", 16, 2, lambda y, xs: b"".join(
    struct.pack(">HHH", *(v * 257 + (x % 200) for v in rgb.getpixel((x, y)))) for x in xs))
png_by_hand("gray16.png", 16, 0, lambda y, xs: b"".join(
    struct.pack(">H", gray.getpixel((x, y)) * (x % 3)) for x in xs))
png_by_hand("gray4.png", 4, 0, lambda y, xs: nibbles(gray.getpixel((x, y)) >> 4 for x in xs))
png_by_hand("interlaced.png", 8, 2, lambda y, xs: b"".join(bytes(rgb.getpixel((x, y))) for x in xs),
            interlace=True)

with open(here / "expected.txt", "w") as out:
    out.write("# sha256 of Pillow 9.4.0's Image.open(f).convert('RGB').tobytes(), mode as opened, file\n")
    for f in sorted(p for p in here.iterdir() if p.suffix in (".jpg", ".png")):
        with Image.open(f) as im:
            mode = im.mode
            digest = hashlib.sha256(im.convert("RGB").tobytes()).hexdigest()
        out.write(f"{digest} {mode} {f.name}\n")
