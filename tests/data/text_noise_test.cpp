#include "data/text_noise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace kiln::data {
namespace {

std::string numbered_words(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? " w" : "w") + std::to_string(i) + (i % 10 == 9 ? "." : "");
  return s;
}

TEST(TextNoise, SplitsSentencesAtStopsFollowedBySpace) {
  EXPECT_EQ(split_sentences("He said \"no.\" Then left!  Why? 3.5 km is far"),
            (std::vector<std::string>{"He said \"no.\"", "Then left!", "Why?", "3.5 km is far"}));
  EXPECT_TRUE(split_sentences("   ").empty());
}

TEST(TextNoise, ChunksPackSentencesUpToTheWordLimit) {
  const auto chunks = chunk_text("a b c. d e. f g h i j k. l.", 4);
  EXPECT_EQ(chunks, (std::vector<std::string>{"a b c.", "d e.", "f g h i", "j k. l."}));
}

TEST(TextNoise, MasksAboutTheRatioInSpansAndKeepsOrderWithoutPermutation) {
  TextNoiseOptions o;
  o.permute_sentences = false;
  const std::string text = numbered_words(400);
  const auto words = split_words(text);
  const auto noisy = split_words(noise_text(text, o, 7, 0));
  // Unmasked words stay in order, each mask stands for a span (or an insertion).
  size_t kept = 0, masks = 0, next = 0;
  for (const auto& w : noisy) {
    if (w == "<mask>") {
      ++masks;
      continue;
    }
    const auto it = std::find(words.begin() + static_cast<std::ptrdiff_t>(next), words.end(), w);
    ASSERT_NE(it, words.end()) << w << " out of order";
    next = static_cast<size_t>(it - words.begin()) + 1;
    ++kept;
  }
  EXPECT_EQ(kept, 400u - 120u);  // exactly round(0.3 * 400) words covered
  EXPECT_GT(masks, 120u / 8);    // spans average about lambda = 3 words
  EXPECT_LT(masks, 120u);
}

TEST(TextNoise, DeterministicPerDocumentAndCopyAndDifferentAcrossThem) {
  TextNoiseOptions o;
  const std::string text = numbered_words(100);
  EXPECT_EQ(noise_text(text, o, 3, 1), noise_text(text, o, 3, 1));
  EXPECT_NE(noise_text(text, o, 3, 1), noise_text(text, o, 3, 2));
  EXPECT_NE(noise_text(text, o, 3, 1), noise_text(text, o, 4, 1));
  o.seed = 9;
  EXPECT_NE(noise_text(text, o, 3, 1), noise_text(text, {}, 3, 1));
}

TEST(TextNoise, PermutationKeepsEverySentence) {
  TextNoiseOptions o;
  o.mask_ratio = 0;
  const std::string text = "One. Two. Three. Four. Five. Six.";
  auto a = split_sentences(noise_text(text, o, 1, 0));
  auto b = split_sentences(text);
  EXPECT_NE(a, b);  // 6! orders: this seed moves at least one
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
}

TEST(TextNoise, RejectsBadOptions) {
  TextNoiseOptions o;
  o.mask_ratio = 1.0;
  EXPECT_THROW(noise_text("a b", o, 0, 0), std::exception);
  o.mask_ratio = 0.3;
  o.poisson_lambda = 0;
  EXPECT_THROW(noise_text("a b", o, 0, 0), std::exception);
  EXPECT_EQ(noise_text("", {}, 0, 0), "");
}

}  // namespace
}  // namespace kiln::data
