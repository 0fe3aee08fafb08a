#!/usr/bin/python3
"""PyTorch peer for bench_gemm_bench: times torch.matmul at the same BERT-base shapes.

Run with Debian's python3-torch (/usr/bin/python3). Prints lines
  TORCH <layout> <M> <N> <K> torch=<GF/s best> torch_med=<GF/s median>
that bench/gemm/run.sh joins with the kiln/OpenBLAS lines. Layout nt multiplies by a transposed
view (what nn.Linear does with its [out, in] weight); tn transposes the left operand.
"""
import argparse
import statistics
import time

import torch

SHAPES = [(128, 768, 768), (128, 3072, 768), (128, 768, 3072),
          (1024, 768, 3072), (1024, 3072, 768), (1024, 768, 768)]


def time_it(fn, min_time):
    for _ in range(3):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < 10 or (time.perf_counter() - start < min_time and len(times) < 2000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--trans", default="nn", choices=["nn", "nt", "tn", "all"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# torch {torch.__version__} threads={torch.get_num_threads()}", flush=True)
    layouts = ["nn", "nt", "tn"] if args.trans == "all" else [args.trans]
    with torch.no_grad():
        for layout in layouts:
            for m, n, k in SHAPES:
                a = torch.rand(k, m).t() if layout[0] == "t" else torch.rand(m, k)
                b = torch.rand(n, k).t() if layout[1] == "t" else torch.rand(k, n)
                c = torch.empty(m, n)
                best, med = time_it(lambda: torch.matmul(a, b, out=c), args.min_time)
                flops = 2.0 * m * n * k
                print(f"TORCH {layout} {m} {n} {k} torch={flops / best / 1e9:.1f} "
                      f"torch_med={flops / med / 1e9:.1f}", flush=True)


if __name__ == "__main__":
    main()
