#!/usr/bin/env node
// ONNX Runtime peer for bench_bert_bench: times the forward exported by torch_bert.py --export
// (BERT-base-shaped, seeded random weights) at batch x seq with intraOpNumThreads.
//   node ort_bert.js MODEL.onnx [--batch 8] [--seq 128] [--runs 10] [--warmup 2] [--threads 2]
//                    [--profile]
// --profile turns on ORT's own profiler and adds, after the usual line, the kernel time of the
// last run summed by operator type (the peer's side of the kiln perf profile in
// bench/results/bert.md).
// onnxruntime-node is installed under bench/.scratch (git-ignored), see bench/bert/run.sh.
// Prints one line like the other peers: "ort mode=infer ... median_ms=... peak_rss_mb=...".
'use strict';
const fs = require('fs');
const os = require('os');
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
  const profileDir =
      process.argv.includes('--profile') ? fs.mkdtempSync(path.join(os.tmpdir(), 'ort-prof-')) : null;
  const session = await ort.InferenceSession.create(model, {
    enableProfiling: profileDir !== null,
    profileFilePrefix: profileDir ? path.join(profileDir, 'profile') : undefined,
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
  if (profileDir) printProfile(session, profileDir);
}

// Sums the kernel time of the last profiled run by operator type.
function printProfile(session, dir) {
  session.endProfiling();
  const file = fs.readdirSync(dir).find((f) => f.startsWith('profile'));
  const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  fs.rmSync(dir, {recursive: true});
  const runs = events.filter((e) => e.name === 'model_run');
  const last = runs[runs.length - 1];
  const byOp = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    if (e.ts < last.ts || e.ts > last.ts + last.dur) continue;
    const cur = byOp.get(e.args.op_name) || {us: 0, count: 0};
    cur.us += e.dur;
    cur.count += 1;
    byOp.set(e.args.op_name, cur);
  }
  const total = [...byOp.values()].reduce((s, v) => s + v.us, 0);
  console.log(`# profile of the last run: ${(last.dur / 1000).toFixed(1)} ms, kernels ` +
              `${(total / 1000).toFixed(1)} ms`);
  for (const [op, v] of [...byOp.entries()].sort((a, b) => b[1].us - a[1].us)) {
    if (v.us < 0.001 * total) continue;
    console.log(`#   ${op.padEnd(20)} ${(v.us / 1000).toFixed(1).padStart(7)} ms ` +
                `${(100 * v.us / total).toFixed(1).padStart(5)}%  n=${v.count}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
