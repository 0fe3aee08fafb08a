// WordPiece: greedy longest-match-first over the vocabulary, with continuation pieces spelled
// "##piece"; a word with any unmatchable remainder becomes a single unknown token.
#include "core/error.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {
namespace {

class WordPiece : public Model {
 public:
  WordPiece(std::vector<std::pair<std::string, int32_t>> vocab, const WordPieceOptions& options)
      : options_(options) {
    vocab_.build(std::move(vocab), "WordPiece vocab");
    const int32_t* unk = vocab_.find(options_.unk_token);
    KILN_CHECK(unk, "WordPiece: unk_token '", options_.unk_token, "' is not in the vocabulary");
    unk_id_ = *unk;
    // Continuation pieces are looked up without building "##" + piece: index them by suffix.
    const std::string& prefix = options_.continuing_subword_prefix;
    size_t count = 0;
    for (size_t id = 0; id < vocab_.id_bound(); ++id) {
      const std::string* t = vocab_.token(static_cast<int32_t>(id));
      if (t && !prefix.empty() && t->size() > prefix.size() &&
          t->compare(0, prefix.size(), prefix) == 0)
        ++count;
    }
    continuations_.reserve(count);
    for (size_t id = 0; id < vocab_.id_bound(); ++id) {
      const std::string* t = vocab_.token(static_cast<int32_t>(id));
      if (!t) continue;
      if (prefix.empty()) {
        continuations_.insert(*t, static_cast<int32_t>(id));
      } else if (t->size() > prefix.size() && t->compare(0, prefix.size(), prefix) == 0) {
        std::string_view rest(*t);
        rest.remove_prefix(prefix.size());
        continuations_.insert(rest, static_cast<int32_t>(id));
      }
    }
  }

  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override {
    const uint32_t n = static_cast<uint32_t>(word.size());
    size_t chars = 0;
    for (unsigned char c : word) chars += !is_continuation_byte(c);
    if (chars > options_.max_input_chars_per_word) {
      out.push_back({unk_id_, 0, n});
      return;
    }
    const size_t first = out.size();
    const size_t longest = vocab_.max_token_bytes();
    uint32_t start = 0;
    while (start < n) {
      uint32_t end = static_cast<uint32_t>(std::min<size_t>(n, start + longest));
      while (end < n && is_continuation_byte(static_cast<unsigned char>(word[end]))) --end;
      const int32_t* id = nullptr;
      while (end > start) {
        const std::string_view piece = word.substr(start, end - start);
        id = start == 0 ? vocab_.find(piece) : continuations_.find(piece);
        if (id) break;
        --end;
        while (end > start && is_continuation_byte(static_cast<unsigned char>(word[end]))) --end;
      }
      if (!id) {
        out.resize(first);
        out.push_back({unk_id_, 0, n});
        return;
      }
      out.push_back({*id, start, end});
      start = end;
    }
  }

  const Vocab& vocab() const override { return vocab_; }
  std::string type() const override { return "WordPiece"; }

 private:
  WordPieceOptions options_;
  Vocab vocab_;
  StringIdMap continuations_;
  int32_t unk_id_ = 0;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(std::vector<std::pair<std::string, int32_t>> vocab,
                                      const WordPieceOptions& options) {
  return std::make_unique<WordPiece>(std::move(vocab), options);
}

}  // namespace kiln::tok
