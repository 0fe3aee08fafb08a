#include "data/text_noise.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/example_rng.h"

namespace kiln::data {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// Knuth's multiplication method: fine for the small lambdas BART uses (3).
int64_t poisson(ExampleRng& rng, double lambda) {
  const double limit = std::exp(-lambda);
  double p = 1.0;
  int64_t k = 0;
  do {
    ++k;
    p *= rng.uniform();
  } while (p > limit && k < 1000);
  return k - 1;
}

std::string join(const std::vector<std::string>& parts, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    if (!out.empty()) out += ' ';
    out += parts[i];
  }
  return out;
}

}  // namespace

std::vector<std::string> split_sentences(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_space(c) && current.empty()) continue;
    current += c;
    if (c != '.' && c != '!' && c != '?') continue;
    size_t j = i + 1;
    while (j < text.size() && (text[j] == '"' || text[j] == '\'' || text[j] == ')')) {
      current += text[j];
      ++j;
    }
    if (j == text.size() || is_space(text[j])) {
      out.push_back(current);
      current.clear();
    }
    i = j - 1;
  }
  while (!current.empty() && is_space(current.back())) current.pop_back();
  if (!current.empty()) out.push_back(current);
  return out;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !is_space(text[j])) ++j;
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string> chunk_text(const std::string& text, int64_t max_words) {
  KILN_CHECK(max_words > 0, "chunk_text: max_words must be positive, got ", max_words);
  const auto limit = static_cast<size_t>(max_words);
  std::vector<std::string> chunks;
  std::vector<std::string> words;  // of the chunk being filled
  auto flush = [&] {
    if (!words.empty()) chunks.push_back(join(words, 0, words.size()));
    words.clear();
  };
  for (const std::string& sentence : split_sentences(text)) {
    std::vector<std::string> w = split_words(sentence);
    if (words.size() + w.size() > limit) flush();
    for (size_t start = 0; start < w.size(); start += limit) {
      const size_t end = std::min(w.size(), start + limit);
      if (end - start == limit) {  // an over-long sentence: whole pieces of its own
        chunks.push_back(join(w, start, end));
      } else {
        words.insert(words.end(), w.begin() + static_cast<std::ptrdiff_t>(start), w.end());
      }
    }
  }
  flush();
  return chunks;
}

std::string noise_text(const std::string& text, const TextNoiseOptions& options, uint64_t doc,
                       uint64_t copy) {
  KILN_CHECK(options.mask_ratio >= 0 && options.mask_ratio < 1,
             "mask ratio must be in [0, 1), got ", options.mask_ratio);
  KILN_CHECK(options.poisson_lambda > 0 && options.poisson_lambda <= 100,
             "Poisson lambda must be in (0, 100], got ", options.poisson_lambda);
  const ExampleRng rng(options.seed, copy, doc);

  std::vector<std::string> sentences = split_sentences(text);
  if (options.permute_sentences) {
    ExampleRng r = rng.slot(0);
    for (size_t i = sentences.size(); i > 1; --i)
      std::swap(sentences[i - 1], sentences[static_cast<size_t>(r.integer(0, i))]);
  }
  std::vector<std::string> words;
  for (const auto& s : sentences) {
    auto w = split_words(s);
    words.insert(words.end(), w.begin(), w.end());
  }
  const size_t n = words.size();
  if (n == 0) return "";

  // masked[i]: word i is covered by a span; insert_before[i]: a zero-length span at i.
  std::vector<char> masked(n, 0), insert_before(n + 1, 0);
  const auto target =
      static_cast<size_t>(std::llround(options.mask_ratio * static_cast<double>(n)));
  ExampleRng r = rng.slot(1);
  size_t covered = 0;
  // Each span lands on a uniform start; spans may overlap, so bound the attempts.
  for (size_t attempt = 0; covered < target && attempt < 4 * n + 16; ++attempt) {
    const auto length = static_cast<size_t>(poisson(r, options.poisson_lambda));
    const auto start = static_cast<size_t>(r.integer(0, static_cast<int64_t>(n)));
    if (length == 0) {
      insert_before[start] = 1;
      continue;
    }
    for (size_t i = start; i < std::min(n, start + length) && covered < target; ++i) {
      if (!masked[i]) ++covered;
      masked[i] = 1;
    }
  }

  std::string out;
  auto emit = [&](const std::string& w) {
    if (!out.empty()) out += ' ';
    out += w;
  };
  for (size_t i = 0; i < n; ++i) {
    const bool span_start = masked[i] && (i == 0 || !masked[i - 1]);
    if (insert_before[i] && !masked[i] && (i == 0 || !masked[i - 1])) emit(options.mask_token);
    if (span_start) emit(options.mask_token);
    if (!masked[i]) emit(words[i]);
  }
  if (insert_before[n] && !masked[n - 1]) emit(options.mask_token);
  return out;
}

}  // namespace kiln::data
