#!/usr/bin/env node
// ONNX Runtime peer for bench_bert_bench: times the forward exported by torch_bert.py --export
// (BERT-base-shaped, seeded random weights) at batch x seq with intraOpNumThreads.
//   node ort_bert.js MODEL.onnx [--batch 8] [--seq 128] [--runs 10] [--warmup 2] [--threads 2]
// onnxruntime-node is installed under bench/.scratch (git-ignored), see bench/bert/run.sh.
// Prints one line like the other peers: "ort mode=infer ... median_ms=... peak_rss_mb=...".
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', '.scratch', 'node_modules', 'onnxruntime-node'));

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function main() {
  const model = process.argv[2];
  const batch = arg('--batch', 8), seq = arg('--seq', 128), runs = arg('--runs', 10);
  const warmup = arg('--warmup', 2), threads = arg('--threads', 2);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // ORT_SPIN=0 stops intra-op threads busy-waiting between ops: on a shared, loaded machine
    // spinning workers steal the cores the other worker needs (see run.sh).
    extra: {session: {intra_op: {allow_spinning: process.env.ORT_SPIN === '0' ? '0' : '1'}}},
  });
  const n = batch * seq;
  const ids = new BigInt64Array(n), mask = new BigInt64Array(n);
  let s = 12345n;
  for (let i = 0; i < n; ++i) {
    s = (s * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    ids[i] = 1000n + ((s >> 33n) % 29522n);
    mask[i] = 1n;
  }
  const feeds = {
    input_ids: new ort.Tensor('int64', ids, [batch, seq]),
    attention_mask: new ort.Tensor('int64', mask, [batch, seq]),
  };
  // Peak RSS of the timed loop alone (as the other peers report it): reset the kernel's mark
  // (clear_refs "5", which also restarts maxRSS) after the session is built; the set-up peak
  // (loading and optimising the graph) is reported apart.
  const fs = require('fs');
  const hwm = () => Number((/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8')) ||
                            [0, -1024])[1]) / 1024;
  const setupPeak = hwm();
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch (e) {
  }
  const times = [];
  for (let r = 0; r < warmup + runs; ++r) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r >= warmup) times.push(ms);
  }
  times.sort((a, b) => a - b);
  const m = times.length;
  const median = m % 2 ? times[(m - 1) / 2] : 0.5 * (times[m / 2 - 1] + times[m / 2]);
  // process.resourceUsage().maxRSS is in KiB (getrusage ru_maxrss).
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(`ort mode=infer batch=${batch} seq=${seq} threads=${threads} runs=${runs} ` +
              `median_ms=${median.toFixed(2)} min_ms=${times[0].toFixed(2)} ` +
              `peak_rss_mb=${rss.toFixed(0)} setup_peak_mb=${setupPeak.toFixed(0)} spin=${process.env.ORT_SPIN === '0' ? 0 : 1} ort=${require(path.join(__dirname, '..', '.scratch',
                  'node_modules', 'onnxruntime-node', 'package.json')).version}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
