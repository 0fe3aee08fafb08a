// kiln tokenize: encode JSON lines {"text": ..., "pair": ...} with a Hugging Face tokenizer and
// print one JSON line per input with ids, tokens, type ids, special-tokens mask, byte offsets and
// the decoded text. Lines are encoded in batches on the thread pool; output order is input order.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/output.h"
#include "tools/threads.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct Line {
  size_t number;
  tok::EncodeInput input;
};

tok::TruncationStrategy parse_strategy(const std::string& s) {
  if (s == "longest_first") return tok::TruncationStrategy::kLongestFirst;
  if (s == "only_first") return tok::TruncationStrategy::kOnlyFirst;
  if (s == "only_second") return tok::TruncationStrategy::kOnlySecond;
  throw UsageError("--truncation must be longest_first, only_first or only_second, got '" + s +
                   "'");
}

Line parse_line(const std::string& text, size_t number) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error("input line " + std::to_string(number) + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object())
    throw Error("input line " + std::to_string(number) + ": expected a JSON object");
  auto t = j.find("text");
  if (t == j.end() || !t->is_string())
    throw Error("input line " + std::to_string(number) + ": missing string field \"text\"");
  Line line{number, {t->get<std::string>(), std::nullopt}};
  if (auto p = j.find("pair"); p != j.end() && !p->is_null()) {
    if (!p->is_string())
      throw Error("input line " + std::to_string(number) + ": field \"pair\" must be a string");
    line.input.pair = p->get<std::string>();
  }
  return line;
}

json to_json(const tok::Tokenizer& tok, const tok::Encoding& e, bool pair, bool with_mask) {
  json out;
  out["ids"] = e.ids;
  out["tokens"] = e.tokens;
  out["type_ids"] = e.type_ids;
  out["special_tokens_mask"] = e.special_tokens_mask;
  if (with_mask) out["attention_mask"] = e.attention_mask;
  if (!pair) {  // for pairs the offsets of the two texts would be ambiguous in one list
    json offsets = json::array();
    for (const auto& [a, b] : e.offsets) offsets.push_back({a, b});
    out["offsets"] = std::move(offsets);
  }
  out["decoded"] = tok.decode(e.ids, true);
  return out;
}

// Encodes and prints one batch. Errors are collected per line so the earliest failing line is
// the one reported, whatever the thread count.
void run_batch(const tok::Tokenizer& tok, const std::vector<Line>& batch, bool add_special,
               bool with_mask, std::string& out) {
  std::vector<tok::Encoding> encodings(batch.size());
  std::vector<std::string> errors(batch.size());
  parallel_for(0, static_cast<int64_t>(batch.size()), 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const auto& in = batch[i].input;
      try {
        encodings[i] = in.pair ? tok.encode_pair(in.text, *in.pair, add_special)
                               : tok.encode(in.text, add_special);
      } catch (const std::exception& ex) {
        errors[i] = ex.what();
      }
    }
  });
  for (size_t i = 0; i < batch.size(); ++i)
    if (!errors[i].empty())
      throw Error("input line " + std::to_string(batch[i].number) + ": " + errors[i]);
  if (tok.padding() && !tok.padding()->fixed_length) tok::pad_encodings(encodings, *tok.padding());
  for (size_t i = 0; i < batch.size(); ++i) {
    out += to_json(tok, encodings[i], batch[i].input.pair.has_value(), with_mask)
               .dump(-1, ' ', false, json::error_handler_t::replace);
    out += '\n';
  }
}

int run_tokenize(const std::vector<std::string>& args) {
  ArgParser p("tokenize", "--tokenizer PATH [--input FILE] [options]");
  p.option("tokenizer", "tokenizer.json, vocab.txt, vocab.json (+ merges.txt) or a folder", "-t")
      .option("input", "JSON lines file with {\"text\": ..., \"pair\": ...} (default: stdin)", "-i")
      .flag("add-special-tokens", "add the model's special tokens ([CLS], <s>, ...)", true)
      .option("max-length", "truncate to at most this many tokens")
      .option("truncation", "longest_first | only_first | only_second", "", "longest_first")
      .option("padding", "none | longest (per batch) | max_length (needs --max-length)", "", "none")
      .option("batch-size", "lines encoded together on the thread pool", "", "256")
      .option("threads", kThreadsHelp);
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  if (!p.get_optional("tokenizer")) throw UsageError("--tokenizer is required");
  apply_threads_flag(p);
  const int64_t batch_size = p.get_int("batch-size");
  if (batch_size <= 0) throw UsageError("--batch-size must be positive");

  // Check every flag before the (slower) tokenizer load so usage errors come first.
  const tok::TruncationStrategy strategy = parse_strategy(p.get("truncation"));
  const std::string padding = p.get("padding");
  if (padding != "none" && padding != "longest" && padding != "max_length")
    throw UsageError("--padding must be none, longest or max_length, got '" + padding + "'");
  if (padding == "max_length" && !p.get_optional("max-length"))
    throw UsageError("--padding=max_length needs --max-length");
  if (p.get_optional("max-length") && p.get_int("max-length") <= 0)
    throw UsageError("--max-length must be positive");

  tok::Tokenizer tok = tok::Tokenizer::from_path(p.get("tokenizer"));
  if (p.get_optional("max-length")) {
    tok.set_truncation(
        tok::TruncationParams{static_cast<size_t>(p.get_int("max-length")), strategy, false});
  }
  std::optional<tok::PaddingParams> pad = tok.padding();
  if (padding == "longest" || padding == "max_length") {
    tok::PaddingParams params = pad.value_or(tok::PaddingParams{});
    params.fixed_length.reset();
    if (padding == "max_length") {
      params.fixed_length = static_cast<size_t>(p.get_int("max-length"));
    }
    if (!pad) {
      // Pad with the tokenizer's own padding token when it has a familiar one.
      for (const char* name : {"[PAD]", "<pad>", "<|endoftext|>"}) {
        if (auto id = tok.token_to_id(name)) {
          params.pad_id = *id;
          params.pad_token = name;
          break;
        }
      }
    }
    tok.set_padding(params);
  } else {
    tok.set_padding(std::nullopt);
  }
  const bool add_special = p.get_flag("add-special-tokens");
  const bool with_mask = tok.padding().has_value();

  std::ifstream file;
  std::istream* in = &std::cin;
  if (auto path = p.get_optional("input")) {
    file.open(*path);
    if (!file) throw Error("cannot open input '" + *path + "'");
    in = &file;
  }
  std::vector<Line> batch;
  std::string line, out;
  size_t number = 0;
  auto flush = [&] {
    out.clear();
    run_batch(tok, batch, add_special, with_mask, out);
    std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
    flush_stdout_or_throw();  // streams, and stops at the first failed write
    batch.clear();
  };
  while (std::getline(*in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
    batch.push_back(parse_line(line, number));
    if (static_cast<int64_t>(batch.size()) >= batch_size) flush();
  }
  if (!batch.empty()) flush();
  return 0;
}

}  // namespace
}  // namespace kiln::cli

KILN_COMMAND("tokenize", "encode JSON lines with a Hugging Face tokenizer (ids, tokens, offsets)",
             kiln::cli::run_tokenize);
