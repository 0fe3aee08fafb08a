// Hugging Face tokenizers (npm package, native Rust code) on the same corpus and settings as
// bench_tokenizer_bench: encodeBatch over the whole corpus, best of REPEAT runs after a warm-up.
// The thread count is fixed by the caller through RAYON_NUM_THREADS / TOKENIZERS_PARALLELISM,
// which must be set before the native module loads, so run.sh starts one process per setting.
//   node hf_bench.js TOKENIZER_JSON CORPUS_JSONL NAME THREADS [REPEAT]
const fs = require("fs");
const path = require("path");
const { Tokenizer } = require(path.resolve(process.env.HF_MODULES, "tokenizers"));

async function main() {
  const [tokPath, corpusPath, name, threads, repeatArg] = process.argv.slice(2);
  const repeat = Number(repeatArg || 3);
  const tok = Tokenizer.fromFile(tokPath);
  const texts = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length > 0)
      .map((l) => JSON.parse(l).text);
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, "utf8"), 0);
  let best = Infinity, tokens = 0;
  for (let r = 0; r <= repeat; r++) {
    const start = process.hrtime.bigint();
    const encodings = await tok.encodeBatch(texts, { addSpecialTokens: true });
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    tokens = 0;
    for (const e of encodings) tokens += e.getLength();
    if (r > 0) best = Math.min(best, s);
  }
  console.log(JSON.stringify({impl: "hf-tokenizers", tokenizer: name, threads: Number(threads),
    texts: texts.length, bytes, tokens, seconds: best, mb_per_s: bytes / best / 1e6,
    tokens_per_s: tokens / best}));
}
main().catch((e) => { console.error(e); process.exit(1); });
