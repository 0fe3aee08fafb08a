// Formats the JSON lines of run.sh into a Markdown table, with kiln / HF ratios.
const fs = require("fs");
const rows = fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean).map(JSON.parse);
const key = (r) => `${r.tokenizer}/${r.threads}`;
const hf = Object.fromEntries(rows.filter((r) => r.impl === "hf-tokenizers").map((r) => [key(r), r]));
console.log("| tokenizer | implementation | threads | MB/s | tokens/s | tokens | kiln / HF |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const ref = hf[key(r)];
  const ratio = r.impl === "kiln" && ref ? `${(r.mb_per_s / ref.mb_per_s).toFixed(2)}x` : "";
  const same = r.impl === "kiln" && ref && ref.tokens !== r.tokens ? " (token count differs!)" : "";
  console.log(`| ${r.tokenizer} | ${r.impl} | ${r.threads} | ${r.mb_per_s.toFixed(2)} | ` +
      `${Math.round(r.tokens_per_s).toLocaleString("en-US")} | ${r.tokens} | ${ratio}${same} |`);
}
console.log(`\ncorpus: ${rows[0].texts} texts, ${(rows[0].bytes / 1e6).toFixed(2)} MB`);
