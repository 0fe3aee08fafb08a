// Added tokens ("[CLS]", "<mask>", user additions): matched in the text before the model runs and
// never split. Tokens with normalized=false are found in the raw input, the others in the
// normalized text; lstrip/rstrip/single_word behave as in Hugging Face.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
};

class AddedVocabulary {
 public:
  // A piece of text: either plain text or a matched added token (its id and token index).
  struct Segment {
    uint32_t begin, end;
    int32_t token = -1;  // index into tokens(), -1 for plain text
  };

  void add(AddedToken t);
  // Prepares the matchers; `normalizer` (may be null) normalizes the patterns of normalized tokens.
  void finalize(const Normalizer* normalizer);

  // Splits `text` into plain and added-token segments, using the raw (normalized=false) or the
  // normalized pattern set. Empty input gives no segments.
  void split(std::string_view text, bool normalized_set, std::vector<Segment>& out) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  bool empty() const { return tokens_.empty(); }

 private:
  struct Matcher {
    struct Pattern {
      std::string text;
      int32_t token;
    };
    std::array<std::vector<Pattern>, 256> by_first_byte;  // longest first
    bool any = false;
  };
  void build(Matcher& m, bool normalized_set, const Normalizer* normalizer);
  void split_with(const Matcher& m, std::string_view text, std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  Matcher raw_, normalized_;
};

}  // namespace kiln::tok
