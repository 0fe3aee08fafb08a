#!/usr/bin/python3
"""Fits the polynomial G(u) used by core/kernels/elementwise_gelu_impl.h:
Q(a) = erfc(a / sqrt 2) / 2 = exp(-a^2 / 2) * G(u), u = 1 / (1 + c a), a in [0, 14].
Weighted least squares on the relative error, re-weighted a few times towards the worst points,
then evaluated in f32 Horner as the kernel does. Prints the max relative error and the
coefficients (lowest degree first; the kernel's Horner starts from the last one).
  fit_gelu.py [--c 0.5] [--deg 10]   (the kernel uses c = 0.5, degree 10: 2.8e-7)
"""
import argparse
from math import erfc, sqrt

import numpy as np
import numpy.polynomial.polynomial as P

ap = argparse.ArgumentParser()
ap.add_argument("--c", type=float, default=0.5)
ap.add_argument("--deg", type=int, default=10)
args = ap.parse_args()
a = np.linspace(0, 14, 200001)
q = np.array([0.5 * erfc(v / sqrt(2)) for v in a])
G = q * np.exp(a * a / 2)
u = 1 / (1 + args.c * a)
w = 1 / G
coef = P.polyfit(u, G, args.deg, w=w)
for _ in range(30):
    err = np.abs(P.polyval(u, coef) / G - 1)
    w = w * (1 + 50 * err / err.max()) ** 0.5
    coef = P.polyfit(u, G, args.deg, w=w)
c32 = coef.astype(np.float32)
u32 = (np.float32(1) / (np.float32(1) + np.float32(args.c) * a.astype(np.float32))).astype(np.float32)
p = np.zeros_like(u32) + c32[-1]
for k in range(args.deg - 1, -1, -1):
    p = (p * u32 + c32[k]).astype(np.float32)
print("max relative error of G in f32:", np.max(np.abs(p / G - 1)))
print(repr(c32.tolist()))
