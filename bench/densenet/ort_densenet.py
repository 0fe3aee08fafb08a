#!/usr/bin/env python3
"""ONNX Runtime peer for bench_densenet_bench (the PyPI onnxruntime package).

  ort_densenet.py MODEL.onnx [--batch 8] [--size 224] [--runs 5] [--warmup 1] [--threads 2]
                  [--spin 0|1]

MODEL.onnx is torch_densenet.py --export's (torchvision's densenet121 graph, seeded random
weights; dynamic batch). One session with intra_op_num_threads=THREADS, every graph optimisation,
sequential execution. --spin (default: $ORT_SPIN, else 1) sets "session.intra_op.allow_spinning": 0
stops the intra-op workers busy-waiting between ops, which on a shared, loaded machine steal the
cores the other worker needs. Prints one line like the other peers:
"ort mode=fwd batch=.. median_ms=.. min_ms=.. peak_rss_mb=.. ort=..".
"""
import argparse
import os
import resource
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spin", type=int, choices=[0, 1], default=int(os.environ.get("ORT_SPIN", 1)))
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", str(a.spin))
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).standard_normal((a.batch, 3, a.size, a.size), dtype=np.float32)
    name = sess.get_inputs()[0].name
    ms = []
    for r in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        if r >= a.warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ort mode=fwd batch={a.batch} size={a.size} threads={a.threads} runs={a.runs} "
          f"median_ms={statistics.median(ms):.1f} min_ms={min(ms):.1f} peak_rss_mb={rss:.0f} "
          f"spin={a.spin} ort={ort.__version__}")


if __name__ == "__main__":
    main()
