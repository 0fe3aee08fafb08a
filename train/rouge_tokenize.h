// Tokenization exactly as Google's rouge-score 0.1.2 does it (rouge_score/tokenize.py with the
// DefaultTokenizer), which every ROUGE number depends on:
//   1. full Unicode lower-casing first, as Python's str.lower(): U+212A KELVIN SIGN becomes an
//      ASCII 'k' and U+0130 becomes 'i' + U+0307, so they survive step 2 as letters;
//   2. every character other than ASCII a-z and 0-9 separates tokens (accented letters, other
//      scripts, '_', apostrophes, hyphens and '.' included: "don't" -> don, t);
//   3. with stemming, tokens longer than 3 characters go through NLTK's Porter stemmer
//      (train/porter_stemmer.h); shorter ones are kept as they are.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln::train {

// Tokens of `text`. Invalid UTF-8 is read as U+FFFD, which separates tokens like any other
// non-alphanumeric character.
std::vector<std::string> rouge_tokenize(std::string_view text, bool use_stemmer);

}  // namespace kiln::train
