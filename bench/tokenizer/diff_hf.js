// Differential check against Hugging Face tokenizers (npm): encodes a JSONL corpus with HF and
// compares with kiln's `kiln tokenize` output line by line (ids, tokens, decoded text).
//   node diff_hf.js TOKENIZER_JSON CORPUS_JSONL KILN_OUTPUT_JSONL
// With GEN=N instead, writes N random stress texts (mixed scripts, marks, emoji, controls,
// whitespace variants, literal special tokens) to CORPUS_JSONL and exits.
const fs = require("fs");
const path = require("path");

function randomTexts(n, seed) {
  let s = seed >>> 0;
  const rnd = (k) => ((s = (s * 1664525 + 1013904223) >>> 0) % k);
  const pools = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " \t\n\r  ",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "éèêëàâäôöûüçñßøåæœÀÉÎÕÜ", "\u0301\u0308\u0302\u0327",
    "日本語中文漢字テキストのカタカナ한국어", "Ελληνικάрусский", "مرحبانمस्तेदुनिया",
    "\u00a0\u2009\u3000\u200b\u200d\ufeff\u0001\u0007\u007f\u0085\u2028", "😀👩‍👩‍👧🏳️‍🌈👍🏽❤️",
    "∑²≤∞∂≈±°£€¥", "'s 't 're 've 'm 'll 'd", "İıŉǰΐ",
  ];
  const specials = ["[CLS]", "[SEP]", "[MASK]", "<mask>", "<s>", "</s>", "<pad>", " <mask>"];
  const out = [];
  for (let i = 0; i < n; i++) {
    let t = "";
    const len = rnd(60);
    for (let k = 0; k < len; k++) {
      if (rnd(40) === 0) { t += specials[rnd(specials.length)]; continue; }
      const p = [...pools[rnd(pools.length)]];
      const run = 1 + rnd(6);
      for (let r = 0; r < run; r++) t += p[rnd(p.length)];
    }
    out.push(t);
  }
  return out;
}

async function main() {
  const [tokPath, corpusPath, kilnOut] = process.argv.slice(2);
  if (process.env.GEN) {
    const texts = randomTexts(Number(process.env.GEN), 12345);
    fs.writeFileSync(corpusPath, texts.map((t) => JSON.stringify({ text: t })).join("\n") + "\n");
    return;
  }
  const { Tokenizer } = require(path.resolve(process.env.HF_MODULES, "tokenizers"));
  const tok = Tokenizer.fromFile(tokPath);
  const texts = fs.readFileSync(corpusPath, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).text);
  const kiln = fs.readFileSync(kilnOut, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  if (kiln.length !== texts.length) throw new Error(`kiln gave ${kiln.length} lines for ${texts.length} texts`);
  const encs = await tok.encodeBatch(texts, { addSpecialTokens: true });
  let bad = 0;
  for (let i = 0; i < texts.length; i++) {
    const ids = encs[i].getIds();
    const decoded = await tok.decode(ids, true);
    const fields = { ids: [ids, kiln[i].ids], tokens: [encs[i].getTokens(), kiln[i].tokens],
                     decoded: [decoded, kiln[i].decoded] };
    for (const [f, [a, b]] of Object.entries(fields)) {
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        if (bad < 5) console.log(`line ${i + 1} field ${f}\n  text ${JSON.stringify(texts[i])}\n  hf   ${JSON.stringify(a)}\n  kiln ${JSON.stringify(b)}`);
        bad++;
      }
    }
  }
  console.log(`${path.basename(path.dirname(tokPath))}/${path.basename(tokPath)}: ${texts.length} texts, ${bad} field differences`);
}
main().catch((e) => { console.error(e); process.exit(1); });
