// Encode throughput of kiln's tokenizer on a JSONL corpus ({"text": ...} per line), one thread and
// all threads, best of --repeat runs after a warm-up. Prints one JSON line per configuration so
// bench/tokenizer/run.sh can set it beside Hugging Face tokenizers measured on the same corpus.
//
//   bench_tokenizer_bench --tokenizer PATH --corpus FILE [--name NAME] [--repeat 3]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace {

std::vector<std::string> read_corpus(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open corpus " + path);
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  return texts;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path, corpus_path, name = "tokenizer";
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--tokenizer")
      tokenizer_path = v;
    else if (a == "--corpus")
      corpus_path = v;
    else if (a == "--name")
      name = v;
    else if (a == "--repeat")
      repeat = std::stoi(v);
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  if (tokenizer_path.empty() || corpus_path.empty()) {
    std::cerr
        << "usage: bench_tokenizer_bench --tokenizer PATH --corpus FILE [--name N] [--repeat R]\n";
    return 2;
  }
  const auto tok = kiln::tok::Tokenizer::from_path(tokenizer_path);
  const auto texts = read_corpus(corpus_path);
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();

  const int all = kiln::num_threads();
  std::vector<int> thread_counts = {1};
  if (all > 1) thread_counts.push_back(all);
  for (int threads : thread_counts) {
    kiln::set_num_threads(threads);
    size_t tokens = 0;
    double best = 1e30;
    for (int r = 0; r <= repeat; ++r) {  // run 0 warms caches and is not timed
      const auto start = std::chrono::steady_clock::now();
      const auto encodings = tok.encode_batch(texts, true);
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      tokens = 0;
      for (const auto& e : encodings) tokens += e.size();
      if (r > 0) best = std::min(best, s);
    }
    nlohmann::json out = {{"impl", "kiln"},
                          {"tokenizer", name},
                          {"threads", threads},
                          {"texts", texts.size()},
                          {"bytes", bytes},
                          {"tokens", tokens},
                          {"seconds", best},
                          {"mb_per_s", bytes / best / 1e6},
                          {"tokens_per_s", tokens / best}};
    std::cout << out.dump() << std::endl;
  }
  kiln::set_num_threads(all);
  return 0;
}
