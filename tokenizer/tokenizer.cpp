// The encode pipeline: added tokens -> normalizer -> pre-tokenizer -> model -> post-processor,
// with every token's offsets mapped back to the bytes of the caller's text.
#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

void check_utf8(std::string_view text, const char* which) {
  const size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    throw Error(std::string(which) + " is not valid UTF-8 (invalid byte 0x" +
                [&] {
                  static const char* hex = "0123456789ABCDEF";
                  const auto b = static_cast<unsigned char>(text[bad]);
                  return std::string{hex[b >> 4], hex[b & 15]};
                }() +
                " at byte offset " + std::to_string(bad) + ")");
  }
}

// Per-thread scratch space so that encoding a text does not allocate for its intermediate lists.
struct Scratch {
  std::vector<AddedVocabulary::Segment> raw_segments, norm_segments;
  std::vector<Word> words, word_scratch;
  std::vector<ModelToken> model_tokens;
  std::string word_with_space;
};

}  // namespace

void Tokenizer::Impl::encode_sequence(std::string_view text, int32_t type_id, Encoding& out) const {
  thread_local Scratch s;
  const Vocab& vocab = model->vocab();
  int32_t word_index = 0;
  auto token_string = [&](int32_t id) -> std::string {
    if (const std::string* t = vocab.token(id)) return *t;
    if (const AddedToken* a = added.by_id(id)) return a->content;
    return std::string();
  };
  // An added token's string is the text it matched, including spaces lstrip/rstrip took in (so
  // BART's "<mask>" after a space is the token " <mask>"), as in Hugging Face.
  auto push_added = [&](const AddedVocabulary::Segment& seg, std::string_view source, Offsets off) {
    const AddedToken& t = added.tokens()[seg.token];
    out.push_back(t.id, std::string(source.substr(seg.begin, seg.end - seg.begin)), off, type_id,
                  word_index++, 0, false);
  };

  added.split(text, false, s.raw_segments);
  for (const auto& raw : s.raw_segments) {
    if (raw.token >= 0) {
      push_added(raw, text, {raw.begin, raw.end});
      continue;
    }
    NormalizedText nt =
        NormalizedText::from_original(text.substr(raw.begin, raw.end - raw.begin), raw.begin);
    if (normalizer) normalizer->normalize(nt);
    added.split(nt.text, true, s.norm_segments);
    for (const auto& seg : s.norm_segments) {
      if (seg.token >= 0) {
        push_added(seg, nt.text, nt.original_range(seg.begin, seg.end));
        continue;
      }
      s.words.assign(1, Word{seg.begin, seg.end, false});
      if (pre_tokenizer) pre_tokenizer->split(nt.text, s.words, s.word_scratch);
      for (const Word& w : s.words) {
        if (w.end == w.begin && !w.prefix_space) continue;
        std::string_view piece(nt.text.data() + w.begin, w.end - w.begin);
        if (w.prefix_space) {
          s.word_with_space.resize(piece.size() + 1);
          s.word_with_space[0] = ' ';
          std::copy(piece.begin(), piece.end(), s.word_with_space.begin() + 1);
          piece = s.word_with_space;
        }
        s.model_tokens.clear();
        model->tokenize(piece, s.model_tokens);
        for (const ModelToken& mt : s.model_tokens) {
          uint32_t a = w.begin + mt.begin, b = w.begin + mt.end;
          if (w.prefix_space) {
            // The virtual space stands for the word's first character, as Hugging Face aligns
            // a prepended space with the character it was put in front of.
            a = mt.begin == 0 ? w.begin : a - 1;
            b = b - 1;
            if (b <= a && w.end > w.begin)
              b = a + static_cast<uint32_t>(utf8_length(static_cast<unsigned char>(nt.text[a])));
          }
          out.push_back(mt.id, token_string(mt.id), nt.original_range(a, b), type_id, word_index, 0,
                        false);
        }
        ++word_index;
      }
    }
  }
}

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl)
    : impl_(std::move(impl)), truncation_(impl_->truncation), padding_(impl_->padding) {}

Encoding Tokenizer::encode_impl(std::string_view a, const std::string_view* b,
                                bool add_special) const {
  check_utf8(a, b ? "first text" : "text");
  if (b) check_utf8(*b, "second text");
  Encoding first;
  first.reserve(a.size() / 3 + 4);
  impl_->encode_sequence(a, 0, first);
  Encoding second;
  if (b) impl_->encode_sequence(*b, 1, second);
  if (truncation_) {
    const size_t added = add_special && impl_->post_processor
                             ? impl_->post_processor->added_tokens(b != nullptr)
                             : 0;
    truncate_encodings(first, b ? &second : nullptr, added, *truncation_);
  }
  if (impl_->post_processor) {
    impl_->post_processor->process(first, b ? &second : nullptr, add_special);
  } else {
    default_post_process(first, b ? &second : nullptr);
  }
  if (padding_ && padding_->fixed_length) {
    std::vector<Encoding> one;
    one.push_back(std::move(first));
    pad_encodings(one, *padding_);
    first = std::move(one[0]);
  }
  return first;
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return encode_impl(text, nullptr, add_special_tokens);
}

Encoding Tokenizer::encode_pair(std::string_view text, std::string_view pair,
                                bool add_special_tokens) const {
  return encode_impl(text, &pair, add_special_tokens);
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<EncodeInput>& inputs,
                                              bool add_special_tokens) const {
  std::vector<Encoding> out(inputs.size());
  parallel_for(0, static_cast<int64_t>(inputs.size()), 4, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const EncodeInput& in = inputs[static_cast<size_t>(i)];
      try {
        if (in.pair) {
          const std::string_view p = *in.pair;
          out[i] = encode_impl(in.text, &p, add_special_tokens);
        } else {
          out[i] = encode_impl(in.text, nullptr, add_special_tokens);
        }
      } catch (const Error& e) {
        throw Error("batch item " + std::to_string(i) + ": " + e.what());
      }
    }
  });
  if (padding_) pad_encodings(out, *padding_);
  return out;
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                              bool add_special_tokens) const {
  std::vector<EncodeInput> inputs;
  inputs.reserve(texts.size());
  for (const auto& t : texts) inputs.push_back({t, std::nullopt});
  return encode_batch(inputs, add_special_tokens);
}

void pad_encodings(std::vector<Encoding>& encodings, const PaddingParams& params) {
  if (encodings.empty()) return;
  size_t target = 0;
  if (params.fixed_length) {
    target = *params.fixed_length;
  } else {
    for (const auto& e : encodings) target = std::max(target, e.size());
  }
  if (params.pad_to_multiple_of > 0 && target % params.pad_to_multiple_of != 0)
    target += params.pad_to_multiple_of - target % params.pad_to_multiple_of;
  for (auto& e : encodings)
    e.pad(target, params.pad_id, params.pad_type_id, params.pad_token, params.pad_left);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const AddedToken* added = impl_->added.by_id(id);
    if (added) {
      if (skip_special_tokens && added->special) continue;
      tokens.push_back(added->content);
    } else if (const std::string* t = impl_->model->vocab().token(id)) {
      tokens.push_back(*t);
    }
    // Unknown ids are skipped, as Hugging Face does.
  }
  if (!impl_->decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  impl_->decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* a = impl_->added.by_content(token)) return a->id;
  if (const int32_t* id = impl_->model->vocab().find(token)) return *id;
  return std::nullopt;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* a = impl_->added.by_id(id)) return a->content;
  if (const std::string* t = impl_->model->vocab().token(id)) return *t;
  return std::nullopt;
}

size_t Tokenizer::vocab_size() const {
  size_t n = impl_->model->vocab().size();
  for (const auto& t : impl_->added.tokens())
    if (!impl_->model->vocab().token(t.id)) ++n;
  return n;
}

size_t Tokenizer::num_special_tokens_to_add(bool pair) const {
  return impl_->post_processor ? impl_->post_processor->added_tokens(pair) : 0;
}

const std::string& Tokenizer::to_json_string() const {
  return impl_->json;
}

}  // namespace kiln::tok
