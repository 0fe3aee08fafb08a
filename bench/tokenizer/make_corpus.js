// Builds the benchmark corpus: real English news and reviews from ../shared/data, one
// {"text": ...} line per document (BBC articles, CNN/DailyMail articles, AG News items, FewSum
// reviews), so kiln and Hugging Face tokenizers read exactly the same inputs.
//   node make_corpus.js SHARED_DATA_DIR OUT_JSONL
const fs = require("fs");
const path = require("path");

const [dataDir, outPath] = process.argv.slice(2);
const sources = [
  ["bbc_news/bbc_news_summary.jsonl", (r) => [r.article]],
  ["news/cnndm_frank.jsonl", (r) => [r.article]],
  ["ag_news/test.jsonl", (r) => [r.text]],
  ["fewsum/amazon/train.jsonl", (r) => r.reviews],
  ["fewsum/yelp/train.jsonl", (r) => r.reviews],
];
const out = [];
for (const [rel, pick] of sources) {
  const file = path.join(dataDir, rel);
  if (!fs.existsSync(file)) continue;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    for (const t of pick(JSON.parse(line)) || []) {
      if (typeof t === "string" && t.length > 0) out.push(JSON.stringify({ text: t }));
    }
  }
}
fs.writeFileSync(outPath, out.join("\n") + "\n");
console.error(`corpus: ${out.length} texts, ${fs.statSync(outPath).size} bytes -> ${outPath}`);
