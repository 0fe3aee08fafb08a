// The Porter stemmer exactly as NLTK 3.8's PorterStemmer() stems, in its default NLTK_EXTENSIONS
// mode: Martin Porter's later extensions plus NLTK's own (a pool of irregular forms such as
// dying -> die and news -> news, 'ies'/'ied' on four-letter words, y -> i only after a consonant,
// 'alli' and 'logi' handling, 'fulli'). Google's rouge-score stems with it, so ROUGE with
// stemming matches only if every word stems as NLTK stems it, quirks included.
#pragma once

#include <string>
#include <string_view>

namespace kiln::train {

// The stem of `word`. Upper-case ASCII letters are lower-cased first, as NLTK does by default;
// words of one or two characters are returned unchanged. Meant for ASCII letters and digits
// (what rouge tokens are); any other byte counts as a consonant.
std::string porter_stem(std::string_view word);

}  // namespace kiln::train
