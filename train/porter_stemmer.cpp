#include "train/porter_stemmer.h"

#include <array>
#include <initializer_list>
#include <utility>

namespace kiln::train {

namespace {

bool is_vowel_letter(char c) {
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

// Porter's consonant: not a vowel letter, and a 'y' only when it follows a vowel (or starts the
// word). Inside a run of y's the answer alternates, so it is read off the letter before the run
// instead of recursing once per 'y' (a long run of y's must not exhaust the stack).
bool is_consonant(std::string_view w, size_t i) {
  if (is_vowel_letter(w[i])) return false;
  if (w[i] != 'y') return true;
  size_t first = i;
  while (first > 0 && w[first - 1] == 'y') --first;
  const bool first_is_consonant = first == 0 || is_vowel_letter(w[first - 1]);
  return (i - first) % 2 == 0 ? first_is_consonant : !first_is_consonant;
}

// Porter's m: the number of vowel-to-consonant transitions in [C](VC){m}[V].
int measure(std::string_view stem) {
  int m = 0;
  bool previous_consonant = true;  // only read after the first letter
  for (size_t i = 0; i < stem.size(); ++i) {
    const char c = stem[i];
    const bool consonant = is_vowel_letter(c) ? false
                           : c == 'y'         ? (i == 0 || !previous_consonant)
                                              : true;
    if (i > 0 && !previous_consonant && consonant) ++m;
    previous_consonant = consonant;
  }
  return m;
}

bool contains_vowel(std::string_view stem) {
  for (size_t i = 0; i < stem.size(); ++i)
    if (!is_consonant(stem, i)) return true;
  return false;
}

// Porter's *d.
bool ends_double_consonant(std::string_view w) {
  const size_t n = w.size();
  return n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1);
}

// Porter's *o (consonant-vowel-consonant, the last not w, x or y), which NLTK extends to a
// two-letter vowel-consonant stem, so that us(ing) -> use and ow(ed) -> owe.
bool ends_cvc(std::string_view w) {
  const size_t n = w.size();
  if (n >= 3 && is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) &&
      w[n - 1] != 'w' && w[n - 1] != 'x' && w[n - 1] != 'y')
    return true;
  return n == 2 && !is_consonant(w, 0) && is_consonant(w, 1);
}

bool ends_with(std::string_view w, std::string_view suffix) {
  return w.size() >= suffix.size() && w.substr(w.size() - suffix.size()) == suffix;
}

std::string without_suffix(std::string_view w, size_t n) {
  return std::string(w.substr(0, w.size() - n));
}

using Condition = bool (*)(std::string_view stem);

bool positive_measure(std::string_view stem) {
  return measure(stem) > 0;
}
bool measure_above_one(std::string_view stem) {
  return measure(stem) > 1;
}

struct Rule {
  std::string_view suffix;
  std::string_view replacement;
  Condition condition;  // on the word without the suffix; nullptr: always
};

// The first rule whose suffix ends the word decides alone: when its condition fails the word is
// kept and later rules are not tried (NLTK's _apply_rule_list).
std::string apply_first_matching(std::string_view word, std::initializer_list<Rule> rules) {
  for (const Rule& rule : rules) {
    if (!ends_with(word, rule.suffix)) continue;
    const std::string_view stem = word.substr(0, word.size() - rule.suffix.size());
    if (rule.condition != nullptr && !rule.condition(stem)) return std::string(word);
    return std::string(stem) + std::string(rule.replacement);
  }
  return std::string(word);
}

std::string step1a(std::string_view w) {
  if (ends_with(w, "ies") && w.size() == 4) return without_suffix(w, 3) + "ie";  // NLTK: dies
  return apply_first_matching(
      w,
      {{"sses", "ss", nullptr}, {"ies", "i", nullptr}, {"ss", "ss", nullptr}, {"s", "", nullptr}});
}

std::string step1b(std::string_view w) {
  if (ends_with(w, "ied")) return without_suffix(w, 3) + (w.size() == 4 ? "ie" : "i");  // NLTK
  if (ends_with(w, "eed")) {
    const std::string stem = without_suffix(w, 3);
    return measure(stem) > 0 ? stem + "ee" : std::string(w);
  }
  std::string stem;
  bool removed = false;
  for (std::string_view suffix : {std::string_view("ed"), std::string_view("ing")}) {
    if (ends_with(w, suffix) && contains_vowel(w.substr(0, w.size() - suffix.size()))) {
      stem = without_suffix(w, suffix.size());
      removed = true;
      break;
    }
  }
  if (!removed) return std::string(w);
  if (ends_with(stem, "at") || ends_with(stem, "bl") || ends_with(stem, "iz")) return stem + "e";
  if (ends_double_consonant(stem)) {
    const char last = stem.back();
    return last == 'l' || last == 's' || last == 'z' ? stem : stem.substr(0, stem.size() - 1);
  }
  return measure(stem) == 1 && ends_cvc(stem) ? stem + "e" : stem;
}

std::string step1c(std::string_view w) {
  // NLTK: y -> i only after a consonant that is not the whole stem (happy -> happi, enjoy stays).
  return apply_first_matching(w, {{"y", "i", [](std::string_view stem) {
                                     return stem.size() > 1 && is_consonant(stem, stem.size() - 1);
                                   }}});
}

std::string step2(std::string_view w) {
  // NLTK applies alli -> al first and then step 2 again on the result.
  if (ends_with(w, "alli") && positive_measure(w.substr(0, w.size() - 4)))
    return step2(without_suffix(w, 4) + "al");
  return apply_first_matching(
      w, {{"ational", "ate", positive_measure},
          {"tional", "tion", positive_measure},
          {"enci", "ence", positive_measure},
          {"anci", "ance", positive_measure},
          {"izer", "ize", positive_measure},
          {"bli", "ble", positive_measure},  // the published algorithm has abli -> able
          {"alli", "al", positive_measure},
          {"entli", "ent", positive_measure},
          {"eli", "e", positive_measure},
          {"ousli", "ous", positive_measure},
          {"ization", "ize", positive_measure},
          {"ation", "ate", positive_measure},
          {"ator", "ate", positive_measure},
          {"alism", "al", positive_measure},
          {"iveness", "ive", positive_measure},
          {"fulness", "ful", positive_measure},
          {"ousness", "ous", positive_measure},
          {"aliti", "al", positive_measure},
          {"iviti", "ive", positive_measure},
          {"biliti", "ble", positive_measure},
          {"fulli", "ful", positive_measure},
          // The 'l' of logi counts with the stem, so that geo-logi and theo-logi stem too.
          {"logi", "log",
           [](std::string_view stem) { return positive_measure(std::string(stem) + "l"); }}});
}

std::string step3(std::string_view w) {
  return apply_first_matching(w, {{"icate", "ic", positive_measure},
                                  {"ative", "", positive_measure},
                                  {"alize", "al", positive_measure},
                                  {"iciti", "ic", positive_measure},
                                  {"ical", "ic", positive_measure},
                                  {"ful", "", positive_measure},
                                  {"ness", "", positive_measure}});
}

std::string step4(std::string_view w) {
  return apply_first_matching(w, {{"al", "", measure_above_one},
                                  {"ance", "", measure_above_one},
                                  {"ence", "", measure_above_one},
                                  {"er", "", measure_above_one},
                                  {"ic", "", measure_above_one},
                                  {"able", "", measure_above_one},
                                  {"ible", "", measure_above_one},
                                  {"ant", "", measure_above_one},
                                  {"ement", "", measure_above_one},
                                  {"ment", "", measure_above_one},
                                  {"ent", "", measure_above_one},
                                  {"ion", "",
                                   [](std::string_view stem) {
                                     return measure(stem) > 1 &&
                                            (stem.back() == 's' || stem.back() == 't');
                                   }},
                                  {"ou", "", measure_above_one},
                                  {"ism", "", measure_above_one},
                                  {"ate", "", measure_above_one},
                                  {"iti", "", measure_above_one},
                                  {"ous", "", measure_above_one},
                                  {"ive", "", measure_above_one},
                                  {"ize", "", measure_above_one}});
}

// Unlike the other steps, the second rule is tried when the first one's condition fails.
std::string step5a(std::string_view w) {
  if (!ends_with(w, "e")) return std::string(w);
  const std::string stem = without_suffix(w, 1);
  const int m = measure(stem);
  if (m > 1 || (m == 1 && !ends_cvc(stem))) return stem;
  return std::string(w);
}

std::string step5b(std::string_view w) {
  return apply_first_matching(
      w, {{"ll", "l", [](std::string_view stem) { return measure(std::string(stem) + "l") > 1; }}});
}

// NLTK's table of irregular forms: these words bypass the algorithm.
constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kIrregular = {{
    {"sky", "sky"},
    {"skies", "sky"},
    {"dying", "die"},
    {"lying", "lie"},
    {"tying", "tie"},
    {"news", "news"},
    {"innings", "inning"},
    {"inning", "inning"},
    {"outings", "outing"},
    {"outing", "outing"},
    {"cannings", "canning"},
    {"canning", "canning"},
    {"howe", "howe"},
    {"proceed", "proceed"},
    {"exceed", "exceed"},
    {"succeed", "succeed"},
}};

}  // namespace

std::string porter_stem(std::string_view word) {
  // NLTK looks the word up as given (only an all-lower-case word can be found) and checks the
  // length before lower-casing; both agree with the lower-cased word for ASCII.
  for (const auto& [form, stem] : kIrregular)
    if (word == form) return std::string(stem);
  std::string w(word);
  for (char& c : w)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (w.size() <= 2) return w;
  w = step1a(w);
  w = step1b(w);
  w = step1c(w);
  w = step2(w);
  w = step3(w);
  w = step4(w);
  w = step5a(w);
  return step5b(w);
}

}  // namespace kiln::train
