// kiln data denoise -i FILES -o PAIRS.jsonl [--field text] [--max-words N] [--copies N] ...
// Writes {"text": noisy, "summary": original} lines: BART's denoising objective as data for the
// summarization task, so pre-training is `kiln train --task summarization` on these pairs (one
// trainer, one task; the noise is fixed per copy, so --copies N gives N differently noised
// versions of every piece, the way fairseq re-noises each epoch). A field may hold a text or a
// list of texts (FewSum's "reviews"); each text is cut into pieces of at most --max-words words
// at sentence ends.
#include "tools/data_denoise.h"

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "data/record_reader.h"
#include "data/text_noise.h"
#include "tools/args.h"
#include "tools/command.h"

namespace kiln::cli {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ','))
    if (!part.empty()) out.push_back(part);
  return out;
}

// The texts of one record's fields: strings, or lists of strings.
std::vector<std::string> texts_of(const data::Record& r, const std::vector<std::string>& fields) {
  std::vector<std::string> out;
  for (const auto& name : fields) {
    if (!r.has(name)) continue;
    const nlohmann::json& v = r.field(name);
    if (v.is_string()) {
      out.push_back(v.get<std::string>());
    } else {
      KILN_CHECK(v.is_array(), r.where(), "field '", name,
                 "' must be a text or a list of texts, got ", v.dump().substr(0, 60));
      for (size_t i = 0; i < v.size(); ++i) {
        KILN_CHECK(v[i].is_string(), r.where(), "field '", name, "' item ", i, " is not a text");
        out.push_back(v[i].get<std::string>());
      }
    }
  }
  KILN_CHECK(!out.empty(), r.where(), "none of the fields ", nlohmann::json(fields).dump(),
             " is present");
  return out;
}

}  // namespace

int run_data_denoise(const std::vector<std::string>& args) {
  ArgParser p("data denoise", "-i FILES -o PAIRS.jsonl [options]");
  p.option("input", "comma-separated data files (jsonl, csv, tsv, text)", "-i")
      .option("output", "the pairs file to write (atomically)", "-o")
      .option("field", "comma-separated fields holding text or lists of texts", "", "text")
      .option("max-words", "words per piece (pieces end at sentence ends)", "", "120")
      .option("min-words", "drop pieces shorter than this", "", "8")
      .option("copies", "differently noised copies of every piece", "", "1")
      .option("mask-ratio", "fraction of words covered by masked spans", "", "0.3")
      .option("poisson-lambda", "mean masked span length", "", "3")
      .option("mask-token", "the tokenizer's mask token", "", "<mask>")
      .option("seed", "noise seed", "", "0")
      .flag("no-permute", "keep sentence order (only infilling)");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const std::vector<std::string> inputs = split_commas(p.get("input"));
  const std::vector<std::string> fields = split_commas(p.get("field"));
  if (inputs.empty()) throw UsageError("--input: name at least one file");
  if (fields.empty()) throw UsageError("--field: name at least one field");
  const int64_t max_words = p.get_int("max-words"), min_words = p.get_int("min-words");
  const int64_t copies = p.get_int("copies");
  if (max_words < 1) throw UsageError("--max-words must be at least 1");
  if (copies < 1 || copies > 1000) throw UsageError("--copies must be in [1, 1000]");
  data::TextNoiseOptions noise;
  noise.mask_ratio = p.get_double("mask-ratio");
  noise.poisson_lambda = p.get_double("poisson-lambda");
  noise.mask_token = p.get("mask-token");
  noise.seed = static_cast<uint64_t>(p.get_int("seed"));
  noise.permute_sentences = !p.get_flag("no-permute");
  if (!(noise.mask_ratio >= 0 && noise.mask_ratio < 1))
    throw UsageError("--mask-ratio must be in [0, 1)");
  if (!(noise.poisson_lambda > 0 && noise.poisson_lambda <= 100))
    throw UsageError("--poisson-lambda must be in (0, 100]");

  std::string out;
  uint64_t piece = 0, records = 0;
  for (const auto& path : inputs) {
    auto reader = data::RecordReader::open(path);
    while (auto r = reader->next()) {
      ++records;
      for (const std::string& text : texts_of(*r, fields)) {
        for (const std::string& chunk : data::chunk_text(text, max_words)) {
          if (static_cast<int64_t>(data::split_words(chunk).size()) < min_words) continue;
          for (int64_t c = 0; c < copies; ++c) {
            const nlohmann::ordered_json line{
                {"text", data::noise_text(chunk, noise, piece, static_cast<uint64_t>(c))},
                {"summary", chunk}};
            out += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
          }
          ++piece;
        }
      }
    }
  }
  KILN_CHECK(piece > 0, "data denoise: no piece of at least ", min_words, " words in ",
             p.get("input"));
  io::atomic_write_file(p.get("output"), out);
  std::cerr << "data denoise: " << records << " records -> " << piece << " pieces x " << copies
            << " copies -> " << p.get("output") << "\n";
  return 0;
}

}  // namespace kiln::cli
