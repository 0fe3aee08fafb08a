"""The PyTorch + transformers peer of bench_bart_bench: the same BART-base shape, modes and
output line, with seeded random weights. One configuration per process (peak RSS is its own).

  python torch_bart.py --mode encoder|greedy|beam|train [--src 512] [--tgt 128] [--new-tokens 60]
                       [--beams 4] [--batch 8] [--runs 5] [--warmup 1] [--threads 2]
                       [--int8 [--qengine x86|fbgemm|onednn]]
--int8 (inference modes): torch.ao.quantization.quantize_dynamic on every nn.Linear (qint8).
"""
import argparse
import resource
import statistics
import time

import torch
import transformers


def hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    return -1.0


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def make_ids(b, l, vocab):
    # The same recipe as bench/bench_util.h (the cost does not depend on the ids).
    s, out = 12345, []
    for _ in range(b * l):
        s = (s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(1000 + (s >> 33) % (vocab - 1000))
    return torch.tensor(out, dtype=torch.long).view(b, l)


def base_config():
    """BART-base shape, as bench_bart_bench builds it (bench/quant/ saves it for kiln convert)."""
    return transformers.BartConfig(
        vocab_size=50265, d_model=768, encoder_layers=6, decoder_layers=6,
        encoder_attention_heads=12, decoder_attention_heads=12, encoder_ffn_dim=3072,
        decoder_ffn_dim=3072, max_position_embeddings=1024, activation_function="gelu",
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
        forced_eos_token_id=2, forced_bos_token_id=None)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="greedy", choices=["encoder", "greedy", "beam", "train"])
    p.add_argument("--src", type=int, default=512)
    p.add_argument("--tgt", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=60)
    p.add_argument("--beams", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--int8", action="store_true")
    p.add_argument("--qengine", choices=["x86", "fbgemm", "onednn"], default="x86")
    a = p.parse_args()
    if a.int8 and a.mode == "train":
        p.error("--int8 is for the inference modes")
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    config = base_config()
    model = transformers.BartForConditionalGeneration(config)
    if a.int8:
        torch.backends.quantized.engine = a.qengine
        model.eval()
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    setup_peak = hwm_mb()
    reset_peak_rss()
    inference = a.mode != "train"
    b = 1 if inference else a.batch
    ids = make_ids(b, a.src, config.vocab_size)
    mask = torch.ones_like(ids)
    total, encoder, steps = [], [], 0
    total_cpu, encoder_cpu = [], []  # process CPU time (all threads), ms
    if inference:
        model.eval()
        with torch.inference_mode():
            for r in range(a.warmup + a.runs):
                t0, c0 = time.perf_counter(), time.process_time()
                model.get_encoder()(input_ids=ids, attention_mask=mask)
                enc = (time.perf_counter() - t0) * 1000
                enc_cpu = (time.process_time() - c0) * 1000
                tot, tot_cpu = enc, enc_cpu
                if a.mode != "encoder":
                    t0, c0 = time.perf_counter(), time.process_time()
                    out = model.generate(
                        input_ids=ids, attention_mask=mask, max_new_tokens=a.new_tokens,
                        min_new_tokens=a.new_tokens, do_sample=False,
                        num_beams=a.beams if a.mode == "beam" else 1, early_stopping=True)
                    tot = (time.perf_counter() - t0) * 1000
                    tot_cpu = (time.process_time() - c0) * 1000
                    steps = out.shape[1] - 1
                if r >= a.warmup:
                    encoder.append(enc)
                    total.append(tot)
                    encoder_cpu.append(enc_cpu)
                    total_cpu.append(tot_cpu)
    else:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
        labels = make_ids(b, a.tgt, config.vocab_size)
        for r in range(a.warmup + a.runs):
            t0 = time.perf_counter()
            opt.zero_grad()
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if r >= a.warmup:
                total.append((time.perf_counter() - t0) * 1000)
    median = statistics.median(total)
    enc = statistics.median(encoder) if encoder else 0.0
    per_step = (median - enc) / steps if steps else 0.0
    cpu_step = ((statistics.median(total_cpu) - statistics.median(encoder_cpu)) / steps
                if steps else 0.0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch mode={a.mode} src={a.src} tgt={a.tgt} new_tokens={a.new_tokens} "
          f"beams={a.beams if a.mode == 'beam' else 1} batch={b} threads={a.threads} runs={a.runs} "
          f"median_ms={median:.1f} encoder_ms={enc:.1f} steps={steps} per_token_ms={per_step:.2f} "
          f"peak_rss_mb={peak:.0f} setup_peak_mb={setup_peak:.0f} torch={torch.__version__} "
          f"weights={'int8-dynamic qengine=' + a.qengine if a.int8 else 'f32'} "
          f"transformers={transformers.__version__} cpu_per_token_ms={cpu_step:.2f}")


if __name__ == "__main__":
    main()
