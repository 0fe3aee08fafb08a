#!/usr/bin/env python3
"""ONNX Runtime peer for bench_bert_bench, from the PyPI packages (onnxruntime, onnx, transformers).

  ort_bert.py --export DIR        # DIR/bert.onnx + DIR/bert_opt.onnx + DIR/bert_opt.fusions.json
  ort_bert.py MODEL.onnx [--batch 8] [--seq 128] [--runs 10] [--warmup 2] [--threads 2]
              [--spin 0|1] [--profile]

--export builds transformers' BertForSequenceClassification with torch_bert.hf_model() (the same
seeded weights the PyTorch peer times), exports it with dynamic batch/sequence axes, and passes it
through onnxruntime's transformer optimizer (onnxruntime.transformers.optimizer.optimize_model,
model_type="bert"), the graph ORT's own tooling gives BERT users. It prints the optimizer's fused
operator statistics and keeps them beside the model, so every timing line can say which fusions
the graph it ran had, and checks the fused graph's logits against PyTorch's.

The timing mode loads MODEL in a session with intra_op_num_threads=THREADS, all graph optimisations
and sequential execution, and prints one line like the other peers:
"ort mode=infer batch=.. median_ms=.. peak_rss_mb=.. setup_peak_mb=.. spin=.. fusions=.. cpu_ms=.."
(cpu_ms: the process CPU time, all threads, per warm-up or timed run).
--spin (default: $ORT_SPIN, else 1) sets "session.intra_op.allow_spinning": 0 stops the intra-op
workers busy-waiting between ops, which on a shared, loaded machine steal the cores the other
worker needs (see run.sh). --profile turns on ORT's profiler and adds the kernel time of the last
run summed by operator type. Torch is imported only for --export, so it does not count in the
timing process's RSS.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter

import numpy as np
import onnxruntime as ort

HEADS, HIDDEN = 12, 768


def export(out_dir):
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree for this import
    from torch_bert import hf_model, inputs
    from onnxruntime.transformers.optimizer import optimize_model

    os.makedirs(out_dir, exist_ok=True)
    raw, opt_path = os.path.join(out_dir, "bert.onnx"), os.path.join(out_dir, "bert_opt.onnx")
    # Eager attention: explicit MatMul/Softmax, the pattern the optimizer's Attention fusion
    # matches (the weights do not depend on it).
    model = hf_model("eager").eval()
    model.config.return_dict = False  # plain tuple output: (logits,)
    ids, mask = inputs(2, 16)
    axes = {0: "batch", 1: "seq"}
    # The TorchScript exporter (dynamo=False): its graph is the one onnxruntime's BERT fusions are
    # written for. With torch 2.15's dynamo exporter the optimizer fused only BiasGelu and
    # SkipLayerNormalization (no Attention, no EmbedLayerNormalization).
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), raw, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                        "logits": {0: "batch"}})
    opt = optimize_model(raw, model_type="bert", num_heads=HEADS, hidden_size=HIDDEN)
    stats = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    opt.save_model_to_file(opt_path)
    with open(os.path.join(out_dir, "bert_opt.fusions.json"), "w") as f:
        json.dump(stats, f)
    print("exported", raw, "optimized", opt_path)
    print("fused operators:", json.dumps(stats))
    ops = Counter(n.op_type for n in opt.model.graph.node)
    print("optimized graph ops:", json.dumps(dict(ops.most_common())))
    # The fused graph must still be the PyTorch peer's model: compare logits on a new shape.
    ids, mask = inputs(3, 40)
    with torch.no_grad():
        want = model(ids, mask)[0].numpy()
    sess = ort.InferenceSession(opt_path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: (ids if "input_ids" in i.name else mask).numpy().astype(
        np.int32 if i.type == "tensor(int32)" else np.int64) for i in sess.get_inputs()})[0]
    print(f"max |logits(ORT optimized) - logits(torch)| = {np.abs(got - want).max():.2e}")


def fusions_of(model_path):
    """The optimizer's statistics saved by --export as Name:count,..., or "none" (a raw graph)."""
    side = model_path[:-len(".onnx")] + ".fusions.json"
    if not os.path.exists(side):
        return "none"
    with open(side) as f:
        return ",".join(f"{k}:{v}" for k, v in json.load(f).items()) or "none"


def hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def print_profile(session):
    """Kernel time of the last profiled run, summed by operator type."""
    path = session.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)
    last = [e for e in events if e.get("name") == "model_run"][-1]
    by_op = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if e["ts"] < last["ts"] or e["ts"] > last["ts"] + last["dur"]:
            continue
        us, n = by_op.get(e["args"]["op_name"], (0, 0))
        by_op[e["args"]["op_name"]] = (us + e["dur"], n + 1)
    total = sum(us for us, _ in by_op.values())
    print(f"# profile of the last run: {last['dur'] / 1000:.1f} ms, kernels {total / 1000:.1f} ms")
    for op, (us, n) in sorted(by_op.items(), key=lambda kv: -kv[1][0]):
        if us >= 0.001 * total:
            print(f"#   {op:<24} {us / 1000:7.1f} ms {100 * us / total:5.1f}%  n={n}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?")
    ap.add_argument("--export", metavar="DIR")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spin", type=int, choices=[0, 1],
                    default=int(os.environ.get("ORT_SPIN", "1")))
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if a.export:
        return export(a.export)
    if not a.model:
        ap.error("MODEL.onnx or --export DIR is required")

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", str(a.spin))
    if a.profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tempfile.gettempdir(), f"ort-prof-{os.getpid()}")
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])

    # Token ids as the other peers draw them (their values do not change the work); each input in
    # the type the graph declares (the optimizer may turn the int64 inputs into int32).
    rng = np.random.default_rng(12345)
    ids = rng.integers(1000, 30522, size=(a.batch, a.seq))
    feeds = {}
    for inp in sess.get_inputs():
        dtype = np.int32 if inp.type == "tensor(int32)" else np.int64
        src = ids if "input_ids" in inp.name else np.ones_like(ids) if "mask" in inp.name \
            else np.zeros_like(ids)
        feeds[inp.name] = src.astype(dtype)

    # Peak RSS of the timed loop alone, as the other peers report it: clear_refs "5" restarts the
    # kernel's high-water mark (and ru_maxrss) after the session is built; set-up is reported apart.
    setup_peak = hwm_mb()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    times = []
    cpu0 = time.process_time()
    for r in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        dt = (time.perf_counter() - t0) * 1e3
        if r >= a.warmup:
            times.append(dt)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / (a.warmup + a.runs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"ort mode=infer batch={a.batch} seq={a.seq} threads={a.threads} runs={a.runs} "
          f"median_ms={statistics.median(times):.2f} min_ms={min(times):.2f} "
          f"peak_rss_mb={rss:.0f} setup_peak_mb={setup_peak:.0f} spin={a.spin} "
          f"fusions={fusions_of(a.model)} model={os.path.basename(a.model)} ort={ort.__version__} "
          f"cpu_ms={cpu_ms:.2f}")
    if a.profile:
        print_profile(sess)


if __name__ == "__main__":
    sys.exit(main())
