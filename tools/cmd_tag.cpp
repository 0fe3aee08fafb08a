// kiln tag -m MODEL [--input FILE] [--probs] [--stride N]
// Token classification over words: one label per word (the prediction for the word's first
// sub-token), and spans merged from IOB2 tags with byte offsets into the input text.
// Input lines carry "text" (split into words by the model's own pre-tokenizer) or "words" (already
// split, as in ../shared/data/inspec; the text is then the words joined by single spaces).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "tools/args.h"
#include "tools/bert_runner.h"
#include "tools/command.h"
#include "tools/jsonl_input.h"
#include "train/iob.h"

namespace kiln::cli {
namespace {

struct Word {
  size_t start, end;   // byte offsets into the text
  size_t first_token;  // index into the special-free encoding
};

struct Doc {
  std::string text;
  std::vector<Word> words;
  tok::Encoding enc;  // without special tokens
};

Doc prepare(const LoadedBert& m, const nlohmann::json& row, const JsonlInput& in) {
  Doc d;
  const tok::Tokenizer& t = *m.tokenizer;
  if (row.contains("words")) {
    KILN_CHECK(row["words"].is_array(), in.name(), ":", in.line(), ": \"words\" must be an array");
    // Each word is encoded on its own, as Hugging Face does for is_split_into_words inputs.
    const bool prefix_space = m.config.family == nn::BertFamily::Roberta;
    for (size_t w = 0; w < row["words"].size(); ++w) {
      KILN_CHECK(row["words"][w].is_string(), in.name(), ":", in.line(), ": words[", w,
                 "] must be a string");
      const std::string word = row["words"][w].get<std::string>();
      if (w) d.text += ' ';
      const size_t base = d.text.size();
      d.text += word;
      tok::Encoding e = t.encode(prefix_space ? " " + word : word, false);
      const size_t shift = prefix_space ? 1 : 0;
      const size_t first = d.enc.size();
      for (size_t k = 0; k < e.size(); ++k) {
        auto off = e.offsets[k];
        off.first = base + (off.first >= shift ? off.first - shift : 0);
        off.second = base + (off.second >= shift ? off.second - shift : 0);
        d.enc.push_back(e.ids[k], e.tokens[k], off, 0, static_cast<int32_t>(w), 0, false);
      }
      if (e.size() > 0) d.words.push_back({base, base + word.size(), first});
    }
    return d;
  }
  d.text = in.string_field(row, "text");
  d.enc = t.encode(d.text, false);
  int32_t last = -1;
  for (size_t k = 0; k < d.enc.size(); ++k) {
    const int32_t w = d.enc.word_ids[k];
    if (w < 0) continue;
    if (w != last) {
      d.words.push_back({d.enc.offsets[k].first, d.enc.offsets[k].second, k});
      last = w;
    } else {
      d.words.back().end = std::max<size_t>(d.words.back().end, d.enc.offsets[k].second);
    }
  }
  return d;
}

// Human-readable output: the start of the text, then each span with its label and score.
void print_text_summary(size_t index, const std::string& text, const nlohmann::ordered_json& spans,
                        size_t truncated) {
  constexpr size_t kPreview = 90;
  std::string preview = text.substr(0, kPreview);
  while (!preview.empty() && (static_cast<unsigned char>(preview.back()) & 0xC0) == 0x80)
    preview.pop_back();  // do not cut a UTF-8 character in half
  if (text.size() > kPreview) preview += "...";
  std::cout << "[" << index + 1 << "] " << preview << "\n";
  if (spans.empty()) std::cout << "    (no spans)\n";
  for (const auto& s : spans) {
    char score[16];
    std::snprintf(score, sizeof score, "%.2f", s["score"].get<double>());
    std::cout << "    " << s["label"].get<std::string>() << "  " << s["text"].get<std::string>()
              << "  (" << score << ")\n";
  }
  if (truncated)
    std::cout << "    (" << truncated << " words beyond the model's length not tagged)\n";
}

int run_tag(const std::vector<std::string>& args) {
  ArgParser p("tag", "-m MODEL [--input FILE] [--probs] [--stride N]");
  p.option("model", "kiln model file with a token-classification head", "-m")
      .option("input", "JSON lines with \"text\" or \"words\", or plain text lines; - for stdin",
              "-i", "-")
      .flag("probs", "add \"probs\": one {label: probability} map per word")
      .option("stride",
              "tag long inputs in overlapping windows sharing N tokens (default: truncate)", "",
              "-1")
      .option("batch-size", "windows per forward pass", "", "16")
      .option("threads", "worker threads (default: all cores)", "", "0")
      .option("format", "jsonl (one JSON object per input) or text (a short readable summary)", "",
              "jsonl");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const int batch = static_cast<int>(p.get_int("batch-size"));
  if (batch < 1) throw UsageError("--batch-size must be at least 1");
  set_num_threads(static_cast<int>(p.get_int("threads")));
  const int64_t stride = p.get_int("stride");
  const std::string format = p.get("format");
  if (format != "jsonl" && format != "text")
    throw UsageError("--format must be jsonl or text, got '" + format + "'");
  LoadedBert m = load_bert(p.get("model"), nn::BertTask::TokenClassification);
  const tok::Encoding specials = m.tokenizer->encode("", true);
  KILN_CHECK(specials.size() >= 1, "the model's tokenizer adds no special tokens");
  const int64_t width = m.max_tokens - static_cast<int64_t>(specials.size());
  KILN_CHECK(width > 0, "model maximum length too small");
  if (stride >= width)
    throw UsageError("--stride must be smaller than the window of " + std::to_string(width) +
                     " tokens");

  JsonlInput in(p.get("input"));
  std::vector<Doc> docs;
  while (auto row = in.next()) docs.push_back(prepare(m, *row, in));

  // Cut each document into windows of at most `width` tokens wrapped in the special tokens.
  struct Window {
    size_t doc, begin, end;
  };
  std::vector<Window> windows;
  std::vector<tok::Encoding> encs;
  for (size_t di = 0; di < docs.size(); ++di) {
    const size_t n = docs[di].enc.size();
    const size_t step = stride < 0 ? n + 1 : static_cast<size_t>(width - stride);
    for (size_t b = 0;; b += step) {
      const size_t e = std::min(n, b + static_cast<size_t>(width));
      tok::Encoding w;
      w.push_back(specials.ids[0], specials.tokens[0], {0, 0}, 0, -1, -1, true);
      for (size_t k = b; k < e; ++k)
        w.push_back(docs[di].enc.ids[k], docs[di].enc.tokens[k], docs[di].enc.offsets[k], 0, 0, 0,
                    false);
      for (size_t k = 1; k < specials.size(); ++k)
        w.push_back(specials.ids[k], specials.tokens[k], {0, 0}, 0, -1, -1, true);
      windows.push_back({di, b, e});
      encs.push_back(std::move(w));
      if (e >= n || stride < 0) break;
    }
  }
  const auto probs = run_token_probs(m, encs, batch);

  // For each token, the window where it sits farthest from an edge (most context) wins.
  std::vector<std::vector<const std::vector<float>*>> best(docs.size());
  std::vector<std::vector<size_t>> margin(docs.size());
  for (size_t d = 0; d < docs.size(); ++d) {
    best[d].assign(docs[d].enc.size(), nullptr);
    margin[d].assign(docs[d].enc.size(), 0);
  }
  for (size_t wi = 0; wi < windows.size(); ++wi) {
    const auto& w = windows[wi];
    for (size_t k = w.begin; k < w.end; ++k) {
      const size_t mg = std::min(k - w.begin, w.end - 1 - k) + 1;
      if (mg > margin[w.doc][k]) {
        margin[w.doc][k] = mg;
        best[w.doc][k] = &probs[wi][k - w.begin + 1];
      }
    }
  }

  const bool want_probs = p.get_flag("probs");
  const auto& labels = m.config.labels;
  for (size_t d = 0; d < docs.size(); ++d) {
    const Doc& doc = docs[d];
    nlohmann::ordered_json out;
    out["text"] = doc.text;
    std::vector<std::string> words, tags;
    std::vector<float> scores;
    nlohmann::ordered_json word_probs = nlohmann::ordered_json::array();
    size_t truncated = 0;
    for (const auto& w : doc.words) {
      words.push_back(doc.text.substr(w.start, w.end - w.start));
      const auto* pr = best[d][w.first_token];
      if (!pr) {  // beyond the truncation limit: no prediction
        ++truncated;
        tags.push_back("O");
        scores.push_back(0.0f);
        if (want_probs) word_probs.push_back(nullptr);
        continue;
      }
      const size_t arg = argmax_label(*pr);
      tags.push_back(labels[arg]);
      scores.push_back((*pr)[arg]);
      if (want_probs) word_probs.push_back(label_probs(labels, *pr));
    }
    out["words"] = words;
    out["labels"] = tags;
    nlohmann::ordered_json spans = nlohmann::ordered_json::array();
    for (const auto& s : train::iob2_spans(tags)) {
      float score = 0;
      for (size_t i = s.first_word; i < s.end_word; ++i) score += scores[i];
      const size_t start = doc.words[s.first_word].start, end = doc.words[s.end_word - 1].end;
      spans.push_back({{"text", doc.text.substr(start, end - start)},
                       {"label", s.type},
                       {"start", start},
                       {"end", end},
                       {"score", score / static_cast<float>(s.end_word - s.first_word)}});
    }
    out["spans"] = spans;
    if (want_probs) out["probs"] = word_probs;
    if (truncated) out["truncated_words"] = truncated;
    if (format == "text") {
      print_text_summary(d, doc.text, spans, truncated);
    } else {
      std::cout << out.dump() << "\n";
    }
  }
  return 0;
}

KILN_COMMAND("tag", "label the words of texts (keyphrases, entities) with a token classifier",
             run_tag);

}  // namespace
}  // namespace kiln::cli
